// Live refresh: every element with data-src is replaced by the server-rendered fragment
// at that address every two seconds. Buttons with data-post send a POST (with the header
// that proves it came from this page) and then refresh at once.
"use strict";
const REFRESH_MS = 2000;
const CSRF = { "X-Respq-Dashboard": "1" };

async function refresh(el) {
  const answer = await fetch(el.dataset.src, { credentials: "same-origin", cache: "no-store" });
  if (answer.status === 401) { window.location.reload(); return; }
  if (answer.ok) { el.innerHTML = await answer.text(); }
}

async function refreshAll() {
  await Promise.all([...document.querySelectorAll("[data-src]")].map((el) => refresh(el).catch(() => {})));
}

document.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-post]");
  if (!button) return;
  button.disabled = true;
  const answer = await fetch(button.dataset.post, { method: "POST", credentials: "same-origin", headers: CSRF });
  const note = document.getElementById("note");
  if (note && !answer.ok) { note.textContent = (await answer.json()).error.message; }
  await refreshAll();
});

setInterval(refreshAll, REFRESH_MS);
