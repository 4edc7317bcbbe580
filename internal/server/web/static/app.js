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
