// A tiny Markdown renderer that is safe by construction: every character of the input is HTML-escaped FIRST, and
// only then are a few Markdown constructs turned into tags that this file writes itself. No input text can become a
// tag or an attribute, so neither the model nor a user can inject HTML or script. Supports fenced code blocks (with
// a copy button), inline code, **bold**, *italic*, # headings, - and 1. lists, and paragraphs. Links stay text.
"use strict";

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function renderInline(escaped) {
  // Split out inline code first so that its contents are not formatted.
  return escaped.split(/(`[^`\n]+`)/g).map(part => {
    if (part.length > 2 && part.startsWith("`") && part.endsWith("`")) return "<code>" + part.slice(1, -1) + "</code>";
    return part
      .replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|[^*])\*([^*\n]+)\*(?!\*)/g, "$1<em>$2</em>");
  }).join("");
}

function renderMarkdown(source, copyLabel) {
  const lines = escapeHtml(String(source)).split("\n");
  const out = [];
  let paragraph = [];
  let list = null; // "ul" | "ol"
  const flushParagraph = () => { if (paragraph.length) { out.push("<p>" + paragraph.map(renderInline).join("<br>") + "</p>"); paragraph = []; } };
  const closeList = () => { if (list) { out.push("</" + list + ">"); list = null; } };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const fence = line.match(/^\s*```\s*([\w+#.-]*)\s*$/);
    if (fence) {
      flushParagraph(); closeList();
      const code = [];
      for (i++; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i++) code.push(lines[i]);
      // An unclosed fence (still streaming) shows as a code block too.
      const language = fence[1] ? ' data-lang="' + fence[1] + '"' : "";
      out.push('<pre><button type="button" class="copy">' + escapeHtml(copyLabel || "Copy") + "</button><code" + language + ">" + code.join("\n") + "</code></pre>");
      continue;
    }
    const heading = line.match(/^(#{1,4})\s+(.*)$/);
    const bullet = line.match(/^\s*[-*]\s+(.*)$/);
    const numbered = line.match(/^\s*\d+[.)]\s+(.*)$/);
    if (heading) { flushParagraph(); closeList(); const level = heading[1].length + 2; out.push("<h" + level + ">" + renderInline(heading[2]) + "</h" + level + ">"); }
    else if (bullet || numbered) {
      flushParagraph();
      const kind = bullet ? "ul" : "ol";
      if (list !== kind) { closeList(); out.push("<" + kind + ">"); list = kind; }
      out.push("<li>" + renderInline((bullet || numbered)[1]) + "</li>");
    }
    else if (line.trim() === "") { flushParagraph(); closeList(); }
    else { closeList(); paragraph.push(line); }
  }
  flushParagraph(); closeList();
  return out.join("");
}

if (typeof module !== "undefined") module.exports = { renderMarkdown, escapeHtml };
