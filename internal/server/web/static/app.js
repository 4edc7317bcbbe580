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

// Jobs: a filter select submits its form.
document.querySelectorAll("select[data-autosubmit]").forEach((s) => {
  s.addEventListener("change", () => s.form.submit());
});

// Jobs: [data-live] parts of the page are fetched again every 3 s and
// replaced, while the page is visible (a job page stops once it ended).
const liveParts = document.querySelectorAll("[data-live][id]");
if (liveParts.length) {
  const refresh = async () => {
    if (document.hidden) return;
    try {
      const res = await fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      document.querySelectorAll("[data-live][id]").forEach((el) => {
        const fresh = doc.getElementById(el.id);
        if (fresh) el.replaceWith(document.importNode(fresh, true));
      });
      if (!doc.querySelector("[data-live][id]")) clearInterval(timer);
    } catch (_) { /* the next round tries again */ }
  };
  const timer = setInterval(refresh, 3000);
}

// Jobs: the output of a running job is followed as it is written.
const follow = document.querySelector("pre[data-follow]");
if (follow && window.fetch && window.TextDecoder) {
  (async () => {
    try {
      const res = await fetch(follow.dataset.follow, { credentials: "same-origin" });
      if (!res.ok || !res.body) return;
      const reader = res.body.getReader();
      const dec = new TextDecoder();
      let first = true;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        const atEnd = follow.scrollTop + follow.clientHeight >= follow.scrollHeight - 4;
        if (first) { follow.textContent = ""; first = false; }
        follow.textContent += dec.decode(value, { stream: true });
        if (atEnd) follow.scrollTop = follow.scrollHeight;
      }
      follow.dataset.followed = "done";
      document.querySelectorAll("[data-live-note]").forEach((n) => n.remove());
    } catch (_) { /* the page still shows what it had */ }
  })();
}

// Jobs: the submit form says at once what can never fit the quota.
const jobForm = document.getElementById("job-form");
if (jobForm) {
  const units = { m: 1e-3, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4, Pi: 1024 ** 5 };
  const quantity = (s) => {
    const m = /^\s*([0-9.]+)\s*([a-zA-Z]*)\s*$/.exec(s || "");
    if (!m) return NaN;
    const f = m[2] === "" ? 1 : units[m[2]];
    return f === undefined ? NaN : Number(m[1]) * f;
  };
  const warn = document.getElementById("fit-warning");
  const button = document.getElementById("submit-job");
  const check = () => {
    const tasks = Math.max(1, Number(jobForm.elements.tasks.value) || 1);
    const problems = [];
    for (const [key, label] of [["cpu", "CPU"], ["memory", "memory"], ["gpu", "GPUs"]]) {
      const hard = jobForm.dataset["hard" + key[0].toUpperCase() + key.slice(1)];
      const v = jobForm.elements[key].value;
      if (!hard || !v) continue;
      const per = key === "gpu" ? Number(v) : quantity(v);
      if (per * tasks > Number(hard)) {
        problems.push(`${tasks} task(s) × ${v} ${label} is more than the workspace's quota of ${key === "memory" ? hard + " bytes" : hard} ${label}: this job could never run. Ask for less.`);
      }
    }
    warn.hidden = problems.length === 0;
    warn.textContent = problems.join(" ");
    button.disabled = problems.length > 0;
  };
  jobForm.addEventListener("input", check);
  check();
}
