// Pipeline board: drag a deal card onto another stage column; the move is posted to the
// workbench (same-origin, CSRF token in the X-CSRFToken header) and the card stays where it
// was dropped only when the server accepted the move.
(function () {
  const board = document.getElementById("board");
  if (!board) return;
  const status = document.getElementById("board-status");
  const token = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];
  let dragged = null;
  board.addEventListener("dragstart", (e) => {
    const card = e.target.closest(".crm-card");
    if (!card || card.getAttribute("draggable") !== "true") return;
    dragged = card;
    e.dataTransfer.setData("text/plain", card.dataset.deal);
    e.dataTransfer.effectAllowed = "move";
  });
  board.addEventListener("dragover", (e) => {
    const col = e.target.closest(".crm-column");
    if (col && dragged) { e.preventDefault(); col.classList.add("crm-dragover"); }
  });
  board.addEventListener("dragleave", (e) => {
    const col = e.target.closest(".crm-column");
    if (col) col.classList.remove("crm-dragover");
  });
  board.addEventListener("drop", async (e) => {
    const col = e.target.closest(".crm-column");
    if (!col || !dragged) return;
    e.preventDefault();
    col.classList.remove("crm-dragover");
    const card = dragged;
    dragged = null;
    const from = card.closest(".crm-column");
    if (from === col) return;
    const body = new URLSearchParams({ stage_id: col.dataset.stage });
    const response = await fetch(`/pipeline/deals/${card.dataset.deal}/stage`, {
      method: "POST",
      headers: { "X-CSRFToken": token, "X-Requested-With": "fetch", "Accept": "application/json" },
      body,
      credentials: "same-origin",
    });
    const result = await response.json().catch(() => ({}));
    if (response.ok) {
      col.appendChild(card);
      const select = card.querySelector("select[name=stage_id]");
      if (select) select.value = col.dataset.stage;
      for (const c of board.querySelectorAll(".crm-column")) {
        c.querySelector("h3 small").textContent = `(${c.querySelectorAll(".crm-card").length})`;
      }
      status.textContent = "";
      card.dataset.moved = "1";
    } else {
      status.textContent = result.message || `Error ${response.status}`;
    }
  });
})();
