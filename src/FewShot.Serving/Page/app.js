// The chat page: conversations in localStorage, streaming over the OpenAI-compatible API, a stop button, modes,
// export, and clear messages for every error the API returns. Message text is only ever inserted through
// renderMarkdown (escape-first) or textContent.
"use strict";

const $ = id => document.getElementById(id);
const STORE = "fewshot.conversations", CURRENT = "fewshot.current", KEY = "fewshot.key";
let conversations = loadConversations();
let currentId = localStorage.getItem(CURRENT);
let modelName = null;
let controller = null; // AbortController of the generation in flight

function loadConversations() {
  try { const list = JSON.parse(localStorage.getItem(STORE) || "[]"); return Array.isArray(list) ? list : []; } catch { return []; }
}
function save() {
  localStorage.setItem(STORE, JSON.stringify(conversations));
  if (currentId) localStorage.setItem(CURRENT, currentId);
}
function current() { return conversations.find(c => c.id === currentId); }

function newConversation() {
  const conversation = { id: "c" + Date.now().toString(36) + Math.random().toString(36).slice(2, 6), title: "", mode: $("mode").value || "chat", messages: [], updated: Date.now() };
  conversations.unshift(conversation);
  currentId = conversation.id;
  save();
  render();
  return conversation;
}

function titleOf(c) { return c.title || (c.messages[0]?.content || "").slice(0, 40) || t("untitled"); }

function renderList() {
  const list = $("conversations");
  list.replaceChildren();
  for (const c of conversations) {
    const item = document.createElement("li");
    item.className = c.id === currentId ? "active" : "";
    item.dataset.id = c.id;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = titleOf(c);
    item.append(name);
    for (const [label, action] of [["rename", renameConversation], ["exportMd", exportMarkdown], ["exportJson", exportJson], ["delete", deleteConversation]]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = t(label);
      button.dataset.action = label;
      button.addEventListener("click", event => { event.stopPropagation(); action(c); });
      item.append(button);
    }
    item.addEventListener("click", () => { if (controller) return; currentId = c.id; save(); render(); $("sidebar").classList.remove("open"); });
    list.append(item);
  }
}

function messageElement(message) {
  const box = document.createElement("div");
  box.className = "message " + message.role + (message.stopped ? " stopped" : "");
  const who = document.createElement("div");
  who.className = "who";
  who.textContent = message.role === "user" ? t("you") : t("assistant");
  if (message.stopped) { const mark = document.createElement("span"); mark.className = "stopped-mark"; mark.textContent = " · " + t("stopped"); who.append(mark); }
  const body = document.createElement("div");
  body.className = "body";
  body.innerHTML = renderMarkdown(message.content, t("copy")); // safe: escape-first renderer
  box.append(who, body);
  return box;
}

function renderMessages() {
  const c = current();
  const area = $("messages");
  area.replaceChildren(...(c ? c.messages.map(messageElement) : []));
  area.scrollTop = area.scrollHeight;
  $("title").textContent = c ? titleOf(c) : "";
  if (c && c.mode) $("mode").value = c.mode;
}

function render() { renderList(); renderMessages(); }

function renameConversation(c) {
  const name = prompt(t("renamePrompt"), titleOf(c));
  if (name !== null) { c.title = name.trim(); save(); render(); }
}
function deleteConversation(c) {
  if (!confirm(t("deleteConfirm"))) return;
  conversations = conversations.filter(x => x.id !== c.id);
  if (currentId === c.id) currentId = conversations[0]?.id || null;
  save(); render();
}
function download(name, type, text) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([text], { type }));
  link.download = name;
  document.body.append(link); link.click(); link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}
function safeFileName(c) { return (titleOf(c).replace(/[^\p{L}\p{N}_-]+/gu, "-").slice(0, 40) || "conversation"); }
function exportMarkdown(c) {
  const text = "# " + titleOf(c) + "\n\n" + c.messages.map(m => "**" + (m.role === "user" ? t("you") : t("assistant")) + ":**\n\n" + m.content + "\n").join("\n");
  download(safeFileName(c) + ".md", "text/markdown", text);
}
function exportJson(c) { download(safeFileName(c) + ".json", "application/json", JSON.stringify(c, null, 2)); }

function showError(text) { const box = $("error"); box.textContent = text; box.hidden = !text; }

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("access-key").value.trim();
  if (key) h.Authorization = "Bearer " + key;
  return h;
}

// Shows the key's remaining quota and when it resets (GET /api/quota, served when access keys are on; hidden otherwise).
async function refreshQuota() {
  const box = $("quota");
  if (!$("access-key").value.trim()) { box.hidden = true; return; }
  try {
    const response = await fetch("/api/quota", { headers: headers() });
    if (!response.ok) { box.hidden = true; return; }
    const q = await response.json();
    if (q.remaining_tokens === null || q.remaining_tokens === undefined) { box.textContent = t("quotaUnlimited"); box.hidden = false; return; }
    const resets = q.resets_at ? t("at", { time: new Date(q.resets_at).toLocaleString() }) : t("never");
    box.textContent = t("quotaLeft", { tokens: q.remaining_tokens.toLocaleString(), budget: (q.budget_tokens ?? 0).toLocaleString(), resets });
    box.hidden = false;
  } catch { box.hidden = true; }
}

// Turns an API error response into a sentence for people.
async function describeError(response) {
  let error = {};
  try { error = (await response.json()).error || {}; } catch { }
  const retry = parseInt(response.headers.get("Retry-After") || "", 10);
  const seconds = Number.isFinite(retry) ? retry : 1;
  const resetHeader = response.headers.get("x-ratelimit-reset-tokens") || response.headers.get("x-quota-reset");
  switch (response.status) {
    case 401: return t("errInvalidKey");
    case 403: return t("errLocked", { message: error.message || "" });
    case 413: return t("errTooLarge");
    case 503: return t("errBusy", { seconds });
    case 429:
      if (error.code === "insufficient_quota" || error.type === "insufficient_quota") {
        const reset = resetHeader && !isNaN(Date.parse(resetHeader)) ? new Date(resetHeader)
          : Number.isFinite(retry) ? new Date(Date.now() + retry * 1000) : null;
        return t("errQuota", { time: reset ? t("at", { time: reset.toLocaleString(currentLanguage === "zh" ? "zh-CN" : "en") }) : t("soon") });
      }
      return t("errRate", { seconds });
    case 400: if (error.code === "context_length_exceeded") return t("errContext");
  }
  return t("errOther", { status: response.status, message: error.message || response.statusText });
}

async function ensureModel() {
  if (modelName) return modelName;
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) throw response;
  modelName = (await response.json()).data[0].id;
  return modelName;
}

function setBusy(busy) { $("send").hidden = busy; $("stop").hidden = !busy; $("input").disabled = busy; }

async function send(text) {
  showError("");
  const c = current() || newConversation();
  c.mode = $("mode").value;
  c.messages.push({ role: "user", content: text });
  const reply = { role: "assistant", content: "" };
  c.messages.push(reply);
  c.updated = Date.now();
  save(); render();
  const body = $("messages").lastElementChild.querySelector(".body");
  controller = new AbortController();
  setBusy(true);
  try {
    const model = await ensureModel();
    const history = c.messages.slice(0, -1).filter(m => m.content).map(m => ({ role: m.role, content: m.content }));
    const response = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), signal: controller.signal,
      body: JSON.stringify({ model, mode: c.mode, messages: history, stream: true, stream_options: { include_usage: true } }),
    });
    if (!response.ok) throw response;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end); buffer = buffer.slice(end + 2);
        const data = event.split("\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
        if (!data || data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        const piece = chunk.choices?.[0]?.delta?.content;
        if (piece) {
          reply.content += piece;
          body.innerHTML = renderMarkdown(reply.content, t("copy"));
          $("messages").scrollTop = $("messages").scrollHeight;
          save();
        }
      }
    }
  } catch (problem) {
    if (problem?.name === "AbortError") reply.stopped = true;
    else if (problem instanceof Response) showError(await describeError(problem));
    else showError(t("errNetwork"));
  } finally {
    controller = null;
    if (!reply.content && !reply.stopped) c.messages.pop(); // nothing came back: keep only the user's message
    save(); render(); setBusy(false); refreshQuota();
  }
}

async function loadModes() {
  const select = $("mode");
  try {
    const modes = await (await fetch("/page/modes")).json();
    select.replaceChildren(...modes.map(m => { const o = document.createElement("option"); o.value = m.id; o.textContent = m.title[currentLanguage] || m.title.en || m.id; return o; }));
  } catch { }
  const c = current();
  if (c?.mode) select.value = c.mode;
}

document.addEventListener("DOMContentLoaded", async () => {
  applyLanguage(pickLanguage());
  $("language").value = currentLanguage;
  $("language").addEventListener("change", async e => { localStorage.setItem("fewshot.lang", e.target.value); applyLanguage(e.target.value); await loadModes(); render(); });
  $("access-key").value = localStorage.getItem(KEY) || "";
  $("access-key").addEventListener("change", e => { localStorage.setItem(KEY, e.target.value.trim()); modelName = null; refreshQuota(); });
  refreshQuota();
  $("new-chat").addEventListener("click", () => { if (!controller) newConversation(); });
  $("menu").addEventListener("click", () => $("sidebar").classList.toggle("open"));
  $("mode").addEventListener("change", e => { const c = current(); if (c) { c.mode = e.target.value; save(); } });
  $("stop").addEventListener("click", () => controller?.abort());
  $("composer").addEventListener("submit", e => {
    e.preventDefault();
    const text = $("input").value.trim();
    if (!text || controller) return;
    $("input").value = "";
    send(text);
  });
  $("input").addEventListener("keydown", e => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); $("composer").requestSubmit(); } });
  $("messages").addEventListener("click", async e => {
    const button = e.target.closest("button.copy");
    if (!button) return;
    const code = button.parentElement.querySelector("code").textContent;
    try { await navigator.clipboard.writeText(code); } catch { }
    button.textContent = t("copied");
    setTimeout(() => { button.textContent = t("copy"); }, 1200);
  });
  await loadModes();
  if (!current()) currentId = conversations[0]?.id || null;
  render();
});
