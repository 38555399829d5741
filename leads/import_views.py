"""The CSV import pages: upload, map and preview, run with progress, history, undo."""

import itertools

from django.contrib import messages
from django.contrib.auth.mixins import PermissionRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.views.generic import DetailView, FormView, View

from crm.web.htmx import HtmxPartialMixin

from .address_imports import can_undo_records, check_records, records_import_undo
from .import_forms import ImportMappingForm, ImportStageForm, ImportUploadForm
from .imports import (
    PREVIEW_ROWS,
    UNDOABLE,
    ImportFileError,
    UndoRefused,
    can_undo,
    check_rows,
    error_report_header,
    field_labels,
    file_product,
    import_template_save,
    initial_mapping,
    iter_rows,
    lead_import_undo,
    recognise,
    stage_names,
)
from .models import LeadImport
from .tasks import queue_lead_import

ERRORS_SHOWN = 200


def imports_visible_to(user):
    """Managers see every import; others see their own. Runs found dead say so."""
    LeadImport.objects.mark_interrupted()
    imports = LeadImport.objects.defer("content", "error_report").select_related("created_by")
    if user.has_perm("leads.change_any_lead"):
        return imports
    return imports.filter(created_by=user)


class LeadImportView(PermissionRequiredMixin, HtmxPartialMixin, FormView):
    """/leads/import/: upload a CSV file; below it, the history of imports."""

    permission_required = "leads.add_lead"
    raise_exception = True
    template_name = "leads/lead_import.html"
    form_class = ImportUploadForm
    partials = {"import-upload": "upload"}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["imports"] = imports_visible_to(self.request.user)[:20]
        return context

    def form_invalid(self, form):
        return self.render_to_response(self.get_context_data(form=form), status=422)

    def form_valid(self, form):
        csv_file = form.csv_file
        kind = form.cleaned_data["kind"]
        mapping, stage_map, template = initial_mapping(csv_file.headers, kind)
        lead_import = LeadImport.objects.create(
            kind=kind,
            created_by=self.request.user,
            file_name=form.cleaned_data["file"].name[:255],
            content=form.raw,
            encoding=csv_file.encoding,
            delimiter=csv_file.delimiter,
            notice=csv_file.notice,
            headers=csv_file.headers,
            mapping=mapping,
            stage_map=stage_map,
            template=template,
        )
        return HttpResponseRedirect(lead_import.get_absolute_url())


class ImportAccessMixin:
    def get_queryset(self):
        return imports_visible_to(self.request.user).defer(None)


class LeadImportDetailView(ImportAccessMixin, HtmxPartialMixin, DetailView):
    """/leads/import/<pk>/: map columns and preview (dry run), then progress and summary."""

    template_name = "leads/lead_import_detail.html"
    context_object_name = "lead_import"
    partials = {"import-progress": "progress"}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        lead_import = self.object
        if lead_import.status == LeadImport.Status.UPLOADED:
            context.setdefault("form", self.mapping_form())
            if "stage_form" not in context:
                context["stage_form"] = self.stage_form(lead_import.mapping)
            recognised = recognise(lead_import.headers, lead_import.kind)
            context["product"] = "" if lead_import.template_id else file_product(recognised)
        if lead_import.status in UNDOABLE:
            undoable = (
                can_undo(lead_import)
                if lead_import.kind == LeadImport.Kind.LEADS
                else can_undo_records(lead_import)
            )
            context["can_undo"] = undoable and self.may_change(lead_import)
        context["may_change"] = self.may_change(lead_import)
        return context

    def may_change(self, lead_import) -> bool:
        user = self.request.user
        return lead_import.created_by_id == user.pk or user.has_perm("leads.change_any_lead")

    def samples(self) -> list[list[str]]:
        try:
            return [record.cells for record in itertools.islice(iter_rows(self.object), 5)]
        except ImportFileError:
            return []

    def mapping_form(self, data=None):
        lead_import = self.object
        initial = {f"column_{index}": key for index, key in lead_import.mapping.items()}
        initial.update(
            mode=lead_import.mode,
            duplicates=lead_import.duplicates,
            create_clients=lead_import.create_clients,
            create_contacts=lead_import.create_contacts,
        )
        return ImportMappingForm(
            data,
            initial=initial,
            headers=lead_import.headers,
            samples=self.samples(),
            recognised=recognise(lead_import.headers, lead_import.kind),
            template=lead_import.template,
            kind=lead_import.kind,
        )

    def stage_form(self, mapping, data=None) -> ImportStageForm | None:
        """The stage step for the file's stage column (None without one)."""
        if self.object.kind != LeadImport.Kind.LEADS:
            return None
        try:
            seen = stage_names(self.object, mapping)
        except ImportFileError:
            return None
        if not seen:
            return None
        return ImportStageForm(data, seen=seen, stage_map=self.object.stage_map)

    def post(self, request, *args, **kwargs):
        self.object = lead_import = self.get_object()
        if not self.may_change(lead_import):
            raise PermissionDenied(gettext("You may not change this import."))
        action = request.POST.get("action")
        if action == "undo":
            return self.undo(lead_import)
        if action == "resume":
            return self.resume(lead_import)
        form = self.mapping_form(request.POST)
        if not form.is_valid():
            stage_form = self.stage_form(lead_import.mapping, request.POST)
            context = self.get_context_data(form=form, stage_form=stage_form)
            return self.render_to_response(context, status=422)
        stage_form = self.stage_form(form.mapping(), request.POST)
        if stage_form is not None and not stage_form.is_valid():
            context = self.get_context_data(form=form, stage_form=stage_form)
            return self.render_to_response(context, status=422)
        with transaction.atomic():
            # Locked and read again: two clicks on "Import" (or a preview beside a run)
            # must not both find it uploaded.
            current = LeadImport.objects.select_for_update().get(pk=lead_import.pk)
            if current.status != LeadImport.Status.UPLOADED:
                messages.info(request, gettext("This import has already run."))
                return HttpResponseRedirect(lead_import.get_absolute_url())
            for obj in (current, lead_import):
                obj.mapping = form.mapping()
                obj.stage_map = stage_form.stage_map() if stage_form is not None else {}
                obj.mode = form.cleaned_data["mode"]
                obj.duplicates = form.cleaned_data["duplicates"]
                obj.create_clients = form.cleaned_data["create_clients"]
                obj.create_contacts = form.cleaned_data.get("create_contacts", False)
            current.save(
                update_fields=[
                    "mapping",
                    "stage_map",
                    "mode",
                    "duplicates",
                    "create_clients",
                    "create_contacts",
                ]
            )
            if name := form.cleaned_data["template_name"].strip():
                import_template_save(name=name, lead_import=current, by=request.user)
                messages.success(
                    request,
                    gettext(
                        "Mapping saved as “%(name)s”: a file with these columns will "
                        "arrive mapped like this."
                    )
                    % {"name": name},
                )
            if action == "run":
                queue_lead_import(current)
                return HttpResponseRedirect(lead_import.get_absolute_url())
        return self.render_to_response(
            self.get_context_data(
                form=form, stage_form=stage_form, preview=self.preview(lead_import)
            )
        )

    def preview(self, lead_import) -> dict:
        """The dry run: the first rows as they will be imported, every row error, and
        what will import other than the file says."""
        check = check_rows if lead_import.kind == LeadImport.Kind.LEADS else check_records
        try:
            result = check(lead_import)
        except ImportFileError as error:
            return {"failure": str(error)}
        errors = [
            (row.number, message)
            for row in result.rows
            if not row.is_valid
            for message in row.errors
        ]
        # What will import, though not as the file reads (a lost row's missing reason).
        notices = [
            (row.number, message) for row in result.rows if row.is_valid for message in row.notices
        ]
        shown = [row for row in result.rows if row.is_valid][:PREVIEW_ROWS]
        columns, record_rows = [], []
        if lead_import.kind != LeadImport.Kind.LEADS:
            # An address book's preview shows its own fields, as its form names them.
            labels = field_labels(lead_import.kind)
            named = {*shown[0].values, "client"} if shown else set()
            if lead_import.kind == LeadImport.Kind.CLIENTS:
                named.discard("client")
            columns = [(key, label) for key, label in labels.items() if key in named]
            record_rows = [
                (
                    row,
                    [
                        row.client_ref if key == "client" else row.values.get(key)
                        for key, _ in columns
                    ],
                )
                for row in shown
            ]
        return {
            "total": result.total,
            "invalid": result.invalid,
            "valid": result.total - result.invalid,
            "duplicates": result.duplicates,
            "new_clients": result.new_clients,
            "new_contacts": result.new_contacts,
            "rows": shown,
            "columns": columns,
            "record_rows": record_rows,
            "errors": errors[:ERRORS_SHOWN],
            "more_errors": max(0, len(errors) - ERRORS_SHOWN),
            "notices": notices[:ERRORS_SHOWN],
            "more_notices": max(0, len(notices) - ERRORS_SHOWN),
        }

    def resume(self, lead_import):
        """Go on with an interrupted import after the last row it wrote."""
        LeadImport.objects.filter(pk=lead_import.pk).mark_interrupted()
        with transaction.atomic():
            current = LeadImport.objects.select_for_update().get(pk=lead_import.pk)
            if current.status != LeadImport.Status.INTERRUPTED:
                messages.info(self.request, gettext("This import is not interrupted."))
            else:
                queue_lead_import(current)
                goes_on = (
                    gettext("The import goes on after row %(row)s.") % {"row": current.last_row}
                    if current.last_row
                    else gettext("The import goes on from the start.")
                )
                messages.success(self.request, goes_on)
        return HttpResponseRedirect(lead_import.get_absolute_url())

    def undo(self, lead_import):
        LeadImport.objects.filter(pk=lead_import.pk).mark_interrupted()
        try:
            undo = (
                lead_import_undo
                if lead_import.kind == LeadImport.Kind.LEADS
                else records_import_undo
            )
            count = undo(lead_import=lead_import, by=self.request.user)
        except UndoRefused as refusal:
            messages.error(self.request, str(refusal))
        else:
            messages.success(self.request, undone_message(lead_import.kind, count))
        return HttpResponseRedirect(reverse("leads:import"))


def undone_message(kind: str, count: int) -> str:
    """ "Import undone: 3 leads reverted." for an import of ``kind``."""
    if kind == LeadImport.Kind.CLIENTS:
        said = ngettext(
            "Import undone: %(count)s client reverted.",
            "Import undone: %(count)s clients reverted.",
            count,
        )
    elif kind == LeadImport.Kind.CONTACTS:
        said = ngettext(
            "Import undone: %(count)s contact reverted.",
            "Import undone: %(count)s contacts reverted.",
            count,
        )
    else:
        said = ngettext(
            "Import undone: %(count)s lead reverted.",
            "Import undone: %(count)s leads reverted.",
            count,
        )
    return said % {"count": count}


class LeadImportErrorsView(ImportAccessMixin, View):
    """/leads/import/<pk>/errors.csv: the rows that were not imported, and why."""

    def get(self, request, pk):
        lead_import = get_object_or_404(self.get_queryset(), pk=pk)
        empty = ",".join(error_report_header()) + "\r\n"
        response = HttpResponse(
            "\ufeff" + (lead_import.error_report or empty),
            content_type="text/csv; charset=utf-8",
        )
        stamp = timezone.localdate(lead_import.created_at).isoformat()
        response["Content-Disposition"] = (
            f'attachment; filename="import-{lead_import.pk}-errors-{stamp}.csv"'
        )
        return response
