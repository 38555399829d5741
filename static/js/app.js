/*
 * Leadly CRM — the little JavaScript the pages need. Vanilla, no build step.
 *
 * - htmx configuration: which responses swap (422 and 409 do; errors don't). What the
 *   Content-Security-Policy needs (no indicator <style>, no eval, no scripts from swapped
 *   HTML) is in <meta name="htmx-config"> in base.html, read before htmx starts.
 * - Toasts: the "showToast" event (HX-Trigger), server-rendered messages, network and
 *   server errors.
 * - Confirmations in <dialog id="confirm-dialog"> for hx-confirm and data-confirm.
 * - Server dialogs (<dialog data-server-dialog>): open when htmx brings their content,
 *   close on the server's "closeDialog" event or a [data-dialog-cancel] control.
 * - Whole-row links (tr.row-link[data-href]).
 * - Focus on the first invalid field after a failed submit.
 * - Filter dropdowns (details.filter-menu) close on Escape or a click outside.
 * - Filter toggles (button.filter-toggle): on a phone the filter bar folds behind them.
 * - data-autosubmit controls submit their form on change.
 * - [data-copy="#id"] buttons copy that field's text (a new API token); a field with
 *   data-select-on-focus selects all of itself when focused.
 * - #global-indicator shows while any htmx request is in flight.
 * - A table that scrolls sideways with nothing in it to focus can take the focus, so the
 *   keyboard scrolls it.
 *
 * Loaded with defer after htmx, so `htmx` exists (unless it failed to load: then the
 * page still works as plain HTML and only the htmx parts are skipped).
 */
(function () {
  "use strict";

  var SUCCESS_TOAST_MS = 5000;
  var LEVELS = ["success", "error", "warning", "info"];

  /**
   * A message in the page's language: base.html puts each on <body> as data-msg-<name>
   * (the scripts hold no words); the English is for a page without them. "{status}" and
   * the like in a message are filled from `values`.
   */
  function msg(name, fallback, values) {
    var key = "msg" + name.charAt(0).toUpperCase() + name.slice(1);
    var text = (document.body && document.body.dataset[key]) || fallback;
    Object.keys(values || {}).forEach(function (placeholder) {
      text = text.split("{" + placeholder + "}").join(String(values[placeholder]));
    });
    return text;
  }

  /* ------------------------------------------------------------ htmx config */

  if (window.htmx) {
    // No snapshots in the history cache: going back asks the server for the page
    // (HX-History-Restore-Request), so forms come back with the values in the URL
    // instead of a snapshot's stale inputs.
    htmx.config.historyCacheSize = 0;
    htmx.config.refreshOnHistoryMiss = false;
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      // Invalid form (422) and edit conflict (409) bring back the form to show.
      { code: "422", swap: true, error: false },
      { code: "409", swap: true, error: false },
      { code: "[45]..", swap: false, error: true },
      { code: "...", swap: false },
    ];
    htmx.config.scrollIntoViewOnBoost = false;
  }

  /* ----------------------------------------------------------------- toasts */

  function toastRegion() {
    var region = document.getElementById("toasts");
    if (!region) {
      region = document.createElement("div");
      region.id = "toasts";
      region.className = "toasts";
      region.setAttribute("role", "status");
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    return region;
  }

  function dismissToast(toast) {
    if (!toast || toast.classList.contains("is-leaving")) return;
    toast.classList.add("is-leaving");
    window.setTimeout(function () {
      toast.remove();
    }, 200);
  }

  function scheduleAutohide(toast) {
    var timer = null;
    function start() {
      timer = window.setTimeout(function () {
        dismissToast(toast);
      }, SUCCESS_TOAST_MS);
    }
    function stop() {
      window.clearTimeout(timer);
    }
    // Don't hide a toast while the user is reading it with the pointer or keyboard.
    toast.addEventListener("mouseenter", stop);
    toast.addEventListener("mouseleave", start);
    toast.addEventListener("focusin", stop);
    toast.addEventListener("focusout", start);
    start();
  }

  /** Show a toast. level: success | error | warning | info. */
  function showToast(level, message) {
    if (!message) return null;
    if (LEVELS.indexOf(level) === -1) level = "info";
    var toast = document.createElement("div");
    toast.className = "toast toast-" + level;
    if (level === "error") toast.setAttribute("role", "alert");

    var text = document.createElement("div");
    text.className = "toast-message";
    text.textContent = message;
    toast.appendChild(text);

    var button = document.createElement("button");
    button.type = "button";
    button.className = "toast-dismiss";
    button.setAttribute("aria-label", msg("dismiss", "Dismiss"));
    button.textContent = "×";
    toast.appendChild(button);

    toastRegion().appendChild(toast);
    if (level === "success") scheduleAutohide(toast);
    return toast;
  }

  // Exposed for other scripts and for tests: CRM.showToast("success", "Saved.")
  window.CRM = window.CRM || {};
  window.CRM.showToast = showToast;

  // HX-Trigger: {"showToast": {"level": "success", "message": "Lead saved."}}
  document.addEventListener("showToast", function (evt) {
    var detail = evt.detail || {};
    showToast(detail.level, detail.message || detail.value);
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest(".toast-dismiss");
    if (button) dismissToast(button.closest(".toast"));
  });

  // Enter in a search field inside a form (the lead form's client search) searches, as
  // typing does, instead of submitting the form around it.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Enter" || !evt.target.matches || !evt.target.matches("[data-enter-searches]")) return;
    evt.preventDefault();
    if (window.htmx) window.htmx.trigger(evt.target, "search");
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape") return;
    var toast = evt.target.closest && evt.target.closest(".toast");
    if (toast) dismissToast(toast);
  });

  function initServerToasts(root) {
    root.querySelectorAll(".toast[data-autohide]:not([data-autohide-started])").forEach(function (toast) {
      toast.setAttribute("data-autohide-started", "");
      scheduleAutohide(toast);
    });
  }

  function hasToastTrigger(xhr) {
    var header = xhr && xhr.getResponseHeader("HX-Trigger");
    return !!header && header.indexOf("showToast") !== -1;
  }

  document.addEventListener("htmx:sendError", function () {
    showToast("error", msg("offline", "Could not reach the server. Your input is kept; try again."));
  });

  document.addEventListener("htmx:responseError", function (evt) {
    var xhr = evt.detail.xhr;
    if (hasToastTrigger(xhr)) return; // The server already said what went wrong.
    showToast(
      "error",
      msg("failed", "Something went wrong ({status}). Your input is kept.", { status: xhr.status }),
    );
  });

  document.addEventListener("htmx:timeout", function () {
    showToast(
      "error",
      msg("timeout", "The server took too long to answer. Your input is kept; try again."),
    );
  });

  /*
   * In DEBUG, django-htmx's debug script replaces the whole page with any 403/404
   * response. Those responses carry our toast (HtmxErrorMiddleware), so keep the page
   * and show the toast instead, as production does; 500s still show the debug page.
   * This listener is on <body>, so it runs before the debug script's on document.
   */
  document.body.addEventListener("htmx:beforeOnLoad", function (evt) {
    var xhr = evt.detail.xhr;
    if ((xhr.status === 403 || xhr.status === 404) && hasToastTrigger(xhr)) {
      evt.stopPropagation();
    }
  });

  /* ---------------------------------------------------------- confirmation */

  var dialog = document.getElementById("confirm-dialog");

  /**
   * Ask `question` in the confirm dialog; call onConfirm if the user confirms.
   * opts.danger styles the confirm button as destructive; opts.label names it.
   */
  function confirmAction(question, opts, onConfirm) {
    opts = opts || {};
    if (!dialog || typeof dialog.showModal !== "function") {
      if (window.confirm(question)) onConfirm();
      return;
    }
    var message = dialog.querySelector(".confirm-dialog-message");
    var button = dialog.querySelector("[data-confirm-button]");
    message.textContent = question;
    button.textContent =
      opts.label || button.getAttribute("data-default-label") || msg("confirm", "Confirm");
    button.classList.toggle("btn-danger", !!opts.danger);
    button.classList.toggle("btn-primary", !opts.danger);
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      function () {
        if (dialog.returnValue === "confirm") onConfirm();
      },
      { once: true },
    );
    dialog.showModal();
  }

  window.CRM.confirm = confirmAction;

  function confirmOptions(elements) {
    var danger = false;
    var label = "";
    elements.forEach(function (el) {
      if (!el) return;
      if (el.closest("[data-confirm-danger]")) danger = true;
      var labelled = el.closest("[data-confirm-label]");
      if (!label && labelled) label = labelled.getAttribute("data-confirm-label");
    });
    return { danger: danger, label: label };
  }

  // hx-confirm="…" → our dialog instead of window.confirm.
  document.addEventListener("htmx:confirm", function (evt) {
    var question = evt.detail.question;
    if (!question) return;
    evt.preventDefault();
    var trigger = evt.detail.triggeringEvent;
    var submitter = trigger && trigger.submitter;
    confirmAction(question, confirmOptions([submitter, evt.detail.elt]), function () {
      evt.detail.issueRequest(true);
    });
  });

  // Plain forms: <form data-confirm="…"> or <button data-confirm="…">.
  document.addEventListener(
    "submit",
    function (evt) {
      var form = evt.target;
      var submitter = evt.submitter || null;
      var source =
        (submitter && submitter.hasAttribute("data-confirm") && submitter) ||
        (form.hasAttribute("data-confirm") && form);
      if (!source) return;
      if (form.hasAttribute("data-confirmed")) {
        form.removeAttribute("data-confirmed");
        return;
      }
      evt.preventDefault();
      evt.stopImmediatePropagation();
      var question = source.getAttribute("data-confirm");
      confirmAction(question, confirmOptions([submitter, form]), function () {
        form.setAttribute("data-confirmed", "");
        if (typeof form.requestSubmit === "function") {
          // Keeps the submitter's name/value and lets htmx handle hx-post forms.
          form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
        } else {
          if (submitter && submitter.name) {
            var hidden = document.createElement("input");
            hidden.type = "hidden";
            hidden.name = submitter.name;
            hidden.value = submitter.value;
            form.appendChild(hidden);
          }
          form.submit();
        }
      });
    },
    true,
  );

  /* -------------------------------------------------------- server dialogs */

  // A form the server sends into a <dialog data-server-dialog> (the closing dialog):
  // the dialog opens once its content is in and settled (so a failed load opens nothing,
  // and htmx's settling cannot put back a value the user has begun to type).
  document.addEventListener("htmx:afterSettle", function (evt) {
    var target = evt.detail.target;
    var serverDialog = target && target.closest ? target.closest("dialog[data-server-dialog]") : null;
    // Nothing to ask (a bulk action done: its answer went out of band) opens nothing.
    var empty = target.childElementCount === 0;
    if (serverDialog && !empty && !serverDialog.open && typeof serverDialog.showModal === "function") {
      serverDialog.showModal();
      var first = serverDialog.querySelector("[autofocus]");
      if (first) first.focus();
    }
  });

  document.addEventListener("closeDialog", function () {
    document.querySelectorAll("dialog[data-server-dialog][open]").forEach(function (open) {
      open.close();
    });
  });

  document.addEventListener("click", function (evt) {
    var cancel = evt.target.closest ? evt.target.closest("dialog [data-dialog-cancel]") : null;
    if (!cancel) return;
    evt.preventDefault(); // without the dialog (no JavaScript) it is a link back
    cancel.closest("dialog").close();
  });

  /* ------------------------------------------------------------- row links */

  var INTERACTIVE = "a, button, input, select, textarea, label, summary, [role=button], [contenteditable]";

  document.addEventListener("click", function (evt) {
    if (evt.button !== 0 || evt.defaultPrevented) return;
    var row = evt.target.closest("tr.row-link[data-href]");
    if (!row || evt.target.closest(INTERACTIVE)) return;
    // Selecting text in a row is not a click on it.
    var selection = window.getSelection && window.getSelection();
    if (selection && selection.type === "Range" && row.contains(selection.anchorNode)) return;
    var href = row.getAttribute("data-href");
    if (evt.ctrlKey || evt.metaKey || evt.shiftKey) {
      window.open(href, "_blank", "noopener");
    } else {
      window.location.assign(href);
    }
  });

  /* ----------------------------------------------------------------- focus */

  function focusFirstInvalid(root) {
    var field = root.querySelector(
      'form [aria-invalid="true"]:not([type=hidden]):not([disabled]), form .has-error :is(input, select, textarea):not([type=hidden]):not([disabled])',
    );
    if (!field) return false;
    field.focus({ preventScroll: true });
    field.scrollIntoView({ block: "center", behavior: "auto" });
    return true;
  }

  document.addEventListener("htmx:afterSettle", function (evt) {
    // evt.target is the settled (new) content; detail.target may be the replaced node.
    var root = evt.target && evt.target.isConnected ? evt.target : evt.detail.target;
    if (root && root.querySelector && root.isConnected) focusFirstInvalid(root);
  });

  /* ---------------------------------------------------------- filter menus */

  // An open <details class="filter-menu"> drops down over the page: close it on a click
  // outside or on Escape. "More filters" (.filter-more) opens in place and stays open.
  var DROPDOWNS = "details.filter-menu[open]:not(.filter-more)";

  document.addEventListener("click", function (evt) {
    document.querySelectorAll(DROPDOWNS).forEach(function (menu) {
      if (!menu.contains(evt.target)) menu.removeAttribute("open");
    });
  });

  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape" || !evt.target.closest) return;
    var menu = evt.target.closest(DROPDOWNS);
    if (!menu) return;
    menu.removeAttribute("open");
    var summary = menu.querySelector("summary");
    if (summary) summary.focus();
  });

  /* --------------------------------------------------------- filter toggle */

  // <button class="filter-toggle" aria-controls="…" hidden> folds the filter bar it controls
  // on a phone (app.css hides the bar while aria-expanded is "false", and the button on
  // wider screens). It comes hidden and expanded, so that without this script the
  // filters are simply there; here it starts folded.
  function initFilterToggles(root) {
    var selector = "button.filter-toggle[hidden]";
    var toggles = Array.prototype.slice.call(root.querySelectorAll(selector));
    if (root.matches && root.matches(selector)) toggles.push(root); // swapped in itself
    toggles.forEach(function (toggle) {
      toggle.setAttribute("aria-expanded", "false");
      toggle.hidden = false;
    });
  }

  document.addEventListener("click", function (evt) {
    var toggle = evt.target.closest && evt.target.closest("button.filter-toggle");
    if (!toggle) return;
    // The bar follows the button, so Tab goes on into it: focus stays where it is.
    var open = toggle.getAttribute("aria-expanded") === "true";
    toggle.setAttribute("aria-expanded", open ? "false" : "true");
  });

  /* ------------------------------------------------------------ autosubmit */

  // <select data-autosubmit> submits its form on change: for forms htmx doesn't drive.
  document.addEventListener("change", function (evt) {
    var control = evt.target.closest("[data-autosubmit]");
    if (!control || !control.form) return;
    var form = control.form;
    var htmxDriven = window.htmx && form.closest("[hx-get], [hx-post], [data-hx-get], [data-hx-post]");
    if (htmxDriven) return;
    if (typeof form.requestSubmit === "function") form.requestSubmit();
    else form.submit();
  });

  /* ---------------------------------------------------- in-flight indicator */

  // The page-wide #global-indicator shows while any htmx request is in flight. Each
  // request is counted off when its XMLHttpRequest ends (answered, failed or aborted),
  // not on htmx:afterRequest: that event is fired on the element that asked, and one
  // swapped out meanwhile (the duplicate notice inside a form whose answer came first)
  // is no longer in the document for it to reach this listener; the bar ran on for good.
  var inFlight = 0;
  function setBusy(delta) {
    inFlight = Math.max(0, inFlight + delta);
    var indicator = document.getElementById("global-indicator");
    if (indicator) indicator.classList.toggle("htmx-request", inFlight > 0);
  }
  document.addEventListener("htmx:beforeSend", function (evt) {
    var xhr = evt.detail.xhr;
    if (!xhr) return;
    // Counted once sent (a listener may still cancel the request), off however it ends.
    xhr.addEventListener("loadstart", function () {
      setBusy(1);
    });
    xhr.addEventListener("loadend", function () {
      setBusy(-1);
    });
  });

  /* ------------------------------------------------------ scrolling tables */

  // A table wider than its .table-wrap (a report on a phone) scrolls sideways inside it.
  // Keyboard users scroll it with the arrow keys once something in it has the focus; a
  // table without links has nothing, so its wrap becomes a focusable region named by the
  // table's caption (WCAG 2.1.1) while it scrolls, and leaves the tab order once it fits.
  var FOCUSABLE = "a[href], button, input, select, textarea, summary, [tabindex]:not([tabindex='-1'])";

  function initScrollingTables(root) {
    root.querySelectorAll(".table-wrap").forEach(function (wrap) {
      var scrolls =
        wrap.scrollWidth > wrap.clientWidth && getComputedStyle(wrap).overflowX !== "visible";
      var needsFocus = scrolls && !wrap.querySelector(FOCUSABLE);
      if (needsFocus && !wrap.hasAttribute("data-scroll-focus")) {
        var caption = wrap.querySelector("caption");
        wrap.setAttribute("data-scroll-focus", "");
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        if (caption) wrap.setAttribute("aria-label", caption.textContent.trim());
      } else if (!needsFocus && wrap.hasAttribute("data-scroll-focus")) {
        ["data-scroll-focus", "tabindex", "role", "aria-label"].forEach(function (name) {
          wrap.removeAttribute(name);
        });
      }
    });
  }

  var resizeFrame = null;
  window.addEventListener("resize", function () {
    if (resizeFrame) return;
    resizeFrame = window.requestAnimationFrame(function () {
      resizeFrame = null;
      initScrollingTables(document);
    });
  });

  /* ------------------------------------------------------------------- copy */

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-copy]");
    if (!button) return;
    var field = document.querySelector(button.getAttribute("data-copy"));
    if (!field) return;
    field.focus();
    field.select();
    var done = function () {
      button.textContent = button.getAttribute("data-copied-label") || msg("copied", "Copied");
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      // Selected above, so a refused clipboard still leaves the text ready for Ctrl+C.
      navigator.clipboard.writeText(field.value).then(done, function () {});
    }
  });

  document.addEventListener("focusin", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-select-on-focus]")) evt.target.select();
  });

  /* ------------------------------------------------------------------ load */

  function onLoad() {
    initServerToasts(document);
    initFilterToggles(document);
    initScrollingTables(document);
    focusFirstInvalid(document);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", onLoad);
  } else {
    onLoad();
  }

  // Toasts rendered into swapped content (e.g. an out-of-band #toasts swap), a list's
  // filter toggle when the whole list is swapped (Clear filters), and swapped tables.
  document.addEventListener("htmx:load", function (evt) {
    if (!evt.target || !evt.target.querySelectorAll) return;
    initServerToasts(evt.target);
    initFilterToggles(evt.target);
    initScrollingTables(evt.target);
  });
})();
