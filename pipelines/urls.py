from django.urls import path

from . import views

app_name = "pipelines"

urlpatterns = [
    path("board/", views.BoardView.as_view(), name="board_default"),
    path("pipelines/<int:pk>/board/", views.BoardView.as_view(), name="board"),
]
