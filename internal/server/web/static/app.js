// Progressive enhancement only: every page works without this file.
document.addEventListener("click", (e) => {
  const b = e.target.closest("[data-copy]");
  if (!b) return;
  const el = document.getElementById(b.dataset.copy);
  if (el && navigator.clipboard) {
    navigator.clipboard.writeText(el.textContent).then(() => { b.textContent = "Copied"; });
  }
});
document.addEventListener("submit", (e) => {
  const f = e.target.closest("form[data-confirm]");
  if (f && !window.confirm(f.dataset.confirm)) e.preventDefault();
});
// A workspace being set up: look again every 2 s (at most a minute) until
// the controller reports it Ready.
const pending = document.querySelector("[data-refresh-until-ready]");
if (pending) {
  const n = Number(sessionStorage.getItem("refreshes:" + location.pathname) || 0);
  if (n < 30) {
    sessionStorage.setItem("refreshes:" + location.pathname, String(n + 1));
    setTimeout(() => location.reload(), 2000);
  }
} else {
  sessionStorage.removeItem("refreshes:" + location.pathname);
}
