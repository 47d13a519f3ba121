// SLA countdown on the ticket queue: the server gives the seconds left at render time; this
// ticks them down every second (negative means overdue).
(function () {
  const started = Date.now();
  function fmt(total) {
    const s = Math.abs(total);
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
  }
  function tick() {
    const elapsed = Math.floor((Date.now() - started) / 1000);
    for (const el of document.querySelectorAll(".crm-countdown[data-seconds]")) {
      if (el.dataset.seconds === "") continue;
      const left = parseInt(el.dataset.seconds, 10) - elapsed;
      el.textContent = left < 0 ? `-${fmt(left)} ${el.dataset.overdue}` : fmt(left);
      el.classList.toggle("crm-overdue", left < 0);
      el.classList.toggle("crm-due-soon", left >= 0 && left < 3600);
    }
  }
  tick();
  setInterval(tick, 1000);
})();
