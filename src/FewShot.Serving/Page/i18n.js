// UI strings in English and Chinese. The language follows the browser unless the user picks one.
"use strict";
const I18N = {
  en: {
    newChat: "New chat", accessKey: "Access key", accessKeyHint: "Bearer key (optional)", language: "Language",
    conversations: "Conversations", placeholder: "Type a message…", send: "Send", stop: "Stop", you: "You", assistant: "FewShot",
    rename: "Rename", delete: "Delete", exportMd: "MD", exportJson: "JSON", renamePrompt: "New name for this conversation:",
    deleteConfirm: "Delete this conversation?", untitled: "New conversation", stopped: "stopped", copy: "Copy", copied: "Copied",
    errInvalidKey: "Your access key is invalid or missing. Enter a valid key in the sidebar.",
    errQuota: "You have used up your quota. It resets {time}.",
    errRate: "Too many requests. Please retry in {seconds} seconds.",
    errLocked: "Access is locked for this key or address. {message}",
    errBusy: "The server is busy right now. Please retry in {seconds} seconds.",
    errContext: "The conversation is too long for the model. Start a new chat or shorten your message.",
    errTooLarge: "The message is too large.",
    errNetwork: "Could not reach the server. Check your connection.",
    errOther: "Error {status}: {message}", soon: "soon", at: "at {time}",
    quotaLeft: "Quota: {tokens} of {budget} tokens left; resets {resets}.", quotaUnlimited: "Quota: unlimited.", never: "never",
  },
  zh: {
    newChat: "新对话", accessKey: "访问密钥", accessKeyHint: "Bearer 密钥（可选）", language: "语言",
    conversations: "对话列表", placeholder: "输入消息…", send: "发送", stop: "停止", you: "你", assistant: "FewShot",
    rename: "重命名", delete: "删除", exportMd: "MD", exportJson: "JSON", renamePrompt: "对话的新名称：",
    deleteConfirm: "删除这个对话？", untitled: "新对话", stopped: "已停止", copy: "复制", copied: "已复制",
    errInvalidKey: "访问密钥无效或缺失。请在侧边栏输入有效的密钥。",
    errQuota: "你的额度已用完，将于{time}重置。",
    errRate: "请求过于频繁，请在 {seconds} 秒后重试。",
    errLocked: "此密钥或地址已被锁定。{message}",
    errBusy: "服务器正忙，请在 {seconds} 秒后重试。",
    errContext: "对话太长，超出了模型的上下文。请新建对话或缩短消息。",
    errTooLarge: "消息太大。",
    errNetwork: "无法连接服务器，请检查网络。",
    errOther: "错误 {status}：{message}", soon: "稍后", at: "{time}",
    quotaLeft: "额度：剩余 {tokens} / {budget} 个 token，{resets}重置。", quotaUnlimited: "额度：不限。", never: "永不",
  },
};

function pickLanguage() {
  const saved = localStorage.getItem("fewshot.lang");
  if (saved && I18N[saved]) return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

function t(key, values) {
  const table = I18N[window.currentLanguage] || I18N.en;
  let text = table[key] ?? I18N.en[key] ?? key;
  for (const [name, value] of Object.entries(values || {})) text = text.replaceAll("{" + name + "}", String(value));
  return text;
}

function applyLanguage(language) {
  window.currentLanguage = language;
  document.documentElement.lang = language === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
}
