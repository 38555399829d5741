/*
 * The pipeline board: drag a card to another column, or move it with the keyboard
 * through its "Move to…" button. Either way the move is a POST to the lead's stage URL
 * (the same endpoint as the detail page's tracker); the server answers with the board
 * region, so counts and totals stay right. Won and Lost ask how the lead closed first,
 * in the closing dialog (the server's form; see leads/includes/closing_dialog.html).
 * A failed move reloads the board, which puts the card back where it was; the
 * server's toast says why.
 */
(function () {
  "use strict";

  var dragged = null;

  function board() {
    return document.getElementById("board");
  }

  function columnOf(element) {
    return element && element.closest ? element.closest(".board-column") : null;
  }

  /**
   * Won and Lost open the closing dialog (the card stays until the move is done);
   * other stages move at once. `land` puts the card in place right away.
   */
  function requestMove(card, stageId, kind, land) {
    if (kind === "won" || kind === "lost") {
      var url = card.getAttribute("data-move-url") + "?origin=board&stage=" + encodeURIComponent(stageId);
      htmx.ajax("GET", url, { target: "#closing-dialog-body", swap: "innerHTML" });
      return;
    }
    if (land) land();
    send(card, stageId);
  }

  function send(card, stageId) {
    var leadId = card.getAttribute("data-lead");
    card.classList.add("is-moving");
    htmx
      .ajax("POST", card.getAttribute("data-move-url"), {
        source: card,
        target: "#board",
        swap: "innerHTML",
        values: { stage: stageId },
      })
      .then(function () {
        // Keyboard users keep their place: focus the moved card's title again.
        var moved = board().querySelector('.board-card[data-lead="' + leadId + '"] .board-card-title');
        if (moved && document.activeElement === document.body) moved.focus();
      });
  }

  function reloadBoard() {
    htmx.ajax("GET", window.location.href, { target: "#board", swap: "innerHTML" });
  }

  // A quick action took a card out of the board's filters: the board comes back without it.
  document.addEventListener("boardChanged", reloadBoard);

  // A refused move (stage gone: 422; no permission: 403; server error; no network): the
  // card goes back. 422 is not an htmx "error" here (forms swap it), so look at the status.
  document.addEventListener("htmx:afterRequest", function (event) {
    var source = event.detail.elt;
    if (!source || !source.classList || !source.classList.contains("board-card")) return;
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (event.detail.failed || status === 0 || status >= 400) reloadBoard();
  });

  // --- quick actions: assign and priority ------------------------------------------------

  // A card's quick action (in #quick-dialog) replaces the card: keyboard users keep their
  // place on the new card's "⋯" button. A refused action (a toast) swaps nothing and
  // leaves the dialog open with what was typed.
  document.addEventListener("htmx:afterSettle", function (event) {
    var config = event.detail.requestConfig;
    var source = config && config.elt;
    if (!source || !source.closest || !source.closest("#quick-dialog")) return;
    var match = /^#card-(\d+)$/.exec(config.target ? "#" + config.target.id : "");
    var leadId = match ? match[1] : null;
    var quick = leadId ? document.querySelector("#card-" + leadId + " [data-quick]") : null;
    if (quick) quick.focus();
  });

  // --- dragging -------------------------------------------------------------------------

  document.addEventListener("dragstart", function (event) {
    var card = event.target.closest ? event.target.closest(".board-card[draggable=true]") : null;
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-lead"));
    card.classList.add("is-dragging");
  });

  document.addEventListener("dragend", function () {
    if (dragged) dragged.classList.remove("is-dragging");
    document.querySelectorAll(".board-column.is-drop-target").forEach(function (column) {
      column.classList.remove("is-drop-target");
    });
  });

  document.addEventListener("dragover", function (event) {
    var column = columnOf(event.target);
    if (!column || !dragged) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    column.classList.add("is-drop-target");
  });

  document.addEventListener("dragleave", function (event) {
    var column = columnOf(event.target);
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("is-drop-target");
  });

  document.addEventListener("drop", function (event) {
    var column = columnOf(event.target);
    if (!column || !dragged) return;
    event.preventDefault();
    column.classList.remove("is-drop-target");
    var card = dragged;
    dragged = null;
    var stageId = column.getAttribute("data-stage");
    if (stageId === card.getAttribute("data-stage")) return;
    var list = column.querySelector(".board-cards");
    requestMove(card, stageId, column.getAttribute("data-kind"), function () {
      if (list) list.insertBefore(card, list.firstChild); // the card lands at once
    });
  });

  // --- the keyboard: "Move to…" ------------------------------------------------------------

  var movingCard = null;

  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-move]") : null;
    if (button) {
      var dialog = document.getElementById("move-dialog");
      movingCard = button.closest(".board-card");
      dialog.querySelector("[data-move-title]").textContent = movingCard.getAttribute("data-title");
      var current = movingCard.getAttribute("data-stage");
      var first = null;
      dialog.querySelectorAll("[data-move-to]").forEach(function (option) {
        var here = option.getAttribute("data-move-to") === current;
        option.disabled = here;
        option.setAttribute("aria-current", here ? "true" : "false");
        if (!here && !first) first = option;
      });
      dialog.showModal();
      if (first) first.focus();
      return;
    }
    var option = event.target.closest ? event.target.closest("[data-move-to]") : null;
    if (option && movingCard) {
      var card = movingCard;
      movingCard = null;
      document.getElementById("move-dialog").close();
      requestMove(card, option.getAttribute("data-move-to"), option.getAttribute("data-kind"), null);
    }
  });
})();
