from django.urls import path

from . import (
    aging_report,
    board,
    bulk_views,
    calibration,
    capture_views,
    duplicates,
    export,
    forecast,
    import_views,
    merge_views,
    pipeline_report,
    reports,
    saved_view_pages,
    source_report,
    team_report,
    team_views,
    views,
)

app_name = "leads"

urlpatterns = [
    # Public: a website's form posts here (its key is its credential).
    path("capture/<str:key>/", capture_views.CaptureView.as_view(), name="capture"),
    path("leads/", views.LeadListView.as_view(), name="list"),
    path("leads/totals/", views.LeadListTotalsView.as_view(), name="list_totals"),
    path("leads/competitors/", views.CompetitorOptionsView.as_view(), name="competitors"),
    path("leads/new/", views.LeadCreateView.as_view(), name="create"),
    path("leads/import/", import_views.LeadImportView.as_view(), name="import"),
    path(
        "leads/import/<int:pk>/",
        import_views.LeadImportDetailView.as_view(),
        name="import_detail",
    ),
    path(
        "leads/import/<int:pk>/errors.csv",
        import_views.LeadImportErrorsView.as_view(),
        name="import_errors",
    ),
    path("leads/export.csv", export.LeadExportView.as_view(), name="export"),
    path(
        "leads/assign-by-rules/",
        views.LeadAssignByRulesView.as_view(),
        name="assign_by_rules",
    ),
    path("leads/bulk/", bulk_views.BulkChangeListView.as_view(), name="bulk_list"),
    path("leads/bulk/apply/", bulk_views.BulkApplyView.as_view(), name="bulk_apply"),
    path("leads/bulk/<int:pk>/", bulk_views.BulkChangeDetailView.as_view(), name="bulk_detail"),
    path("leads/bulk/<int:pk>/undo/", bulk_views.BulkUndoView.as_view(), name="bulk_undo"),
    path("leads/views/", saved_view_pages.SavedViewListView.as_view(), name="saved_views"),
    path(
        "leads/views/new/",
        saved_view_pages.SavedViewCreateView.as_view(),
        name="saved_view_create",
    ),
    path(
        "leads/views/<int:pk>/",
        saved_view_pages.SavedViewOpenView.as_view(),
        name="saved_view_open",
    ),
    *(
        path(
            f"leads/views/<int:pk>/{action}/",
            saved_view_pages.SavedViewActionView.as_view(action=action),
            name=f"saved_view_{action}",
        )
        for action in saved_view_pages.SavedViewActionView.actions
    ),
    path("leads/duplicates/", duplicates.LeadDuplicatesView.as_view(), name="duplicates"),
    path("leads/<int:pk>/", views.LeadDetailView.as_view(), name="detail"),
    path("leads/<int:pk>/edit/", views.LeadUpdateView.as_view(), name="update"),
    path("leads/<int:pk>/delete/", views.LeadDeleteView.as_view(), name="delete"),
    path("leads/<int:pk>/stage/", views.LeadMoveStageView.as_view(), name="move_stage"),
    path("leads/<int:pk>/assign/", views.LeadAssignView.as_view(), name="assign"),
    path("leads/<int:pk>/notes/", views.LeadNoteView.as_view(), name="add_note"),
    path("leads/<int:pk>/priority/", views.LeadPriorityView.as_view(), name="set_priority"),
    path("leads/<int:pk>/quick/", views.LeadQuickActionsView.as_view(), name="quick_actions"),
    path("leads/<int:pk>/merge/", merge_views.LeadMergeView.as_view(), name="merge"),
    path("my-work/", views.MyWorkView.as_view(), name="my_work"),
    path("board/", board.BoardView.as_view(), name="board_default"),
    path("pipelines/<int:pk>/board/", board.BoardView.as_view(), name="board"),
    path("reports/", reports.ReportsView.as_view(), name="reports"),
    path("reports/forecast/", forecast.ForecastView.as_view(), name="forecast"),
    path("reports/pipeline/", pipeline_report.PipelineReportView.as_view(), name="pipeline"),
    path("reports/win-loss/", reports.WinLossView.as_view(), name="win_loss"),
    path("reports/calibration/", calibration.CalibrationView.as_view(), name="calibration"),
    path("reports/sources/", source_report.SourceReportView.as_view(), name="sources_report"),
    path("reports/aging/", aging_report.AgingReportView.as_view(), name="aging_report"),
    path("reports/team/", team_report.TeamReportView.as_view(), name="team_report"),
    path("teams/", team_views.TeamsView.as_view(), name="teams"),
    path(
        "teams/members/<int:pk>/pause/",
        team_views.MembershipPauseView.as_view(),
        name="team_pause",
    ),
    path(
        "teams/<int:pk>/absences/",
        team_views.AbsenceAddView.as_view(),
        name="team_absence_add",
    ),
    path(
        "teams/absences/<int:pk>/remove/",
        team_views.AbsenceRemoveView.as_view(),
        name="team_absence_remove",
    ),
]
