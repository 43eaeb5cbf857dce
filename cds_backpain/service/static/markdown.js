// A small, safe renderer for the GitHub-flavoured Markdown subset CDS cards use:
// paragraphs, "- " lists, "> " quotes, **bold**, _italic_/*italic*, [text](http(s) url),
// backslash escapes and entity references. It builds DOM nodes (never innerHTML), so
// no HTML in a card can run.
"use strict";
(function (global) {
  const PUNCT = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
  const NAMED = { amp: "&", lt: "<", gt: ">", quot: "\"", apos: "'", nbsp: "\u00a0" };

  function entityAt(s, i) {
    const m = /^&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]{2,8});/.exec(s.slice(i));
    if (!m) return null;
    const body = m[1];
    let ch = null;
    if (body[0] === "#") {
      const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (code > 0 && code <= 0x10ffff) ch = String.fromCodePoint(code);
    } else if (NAMED[body]) {
      ch = NAMED[body];
    }
    return ch === null ? null : { ch: ch, len: m[0].length };
  }

  // Index of the next unescaped occurrence of `delim` at or after `from`, or -1.
  function findClose(s, delim, from) {
    for (let i = from; i < s.length; i++) {
      if (s[i] === "\\") { i++; continue; }
      if (s.startsWith(delim, i)) return i;
    }
    return -1;
  }

  function isWord(ch) { return ch !== undefined && /[\p{L}\p{N}]/u.test(ch); }

  function inline(s, doc) {
    const out = [];
    let text = "";
    const flush = () => { if (text) { out.push(doc.createTextNode(text)); text = ""; } };
    for (let i = 0; i < s.length; i++) {
      const c = s[i];
      if (c === "\\" && i + 1 < s.length && PUNCT.includes(s[i + 1])) { text += s[i + 1]; i++; continue; }
      if (c === "&") { const e = entityAt(s, i); if (e) { text += e.ch; i += e.len - 1; continue; } }
      if (s.startsWith("**", i)) {
        const j = findClose(s, "**", i + 2);
        if (j > i + 2) { flush(); const b = doc.createElement("strong"); inline(s.slice(i + 2, j), doc).forEach(n => b.appendChild(n)); out.push(b); i = j + 1; continue; }
      }
      if ((c === "_" && !isWord(s[i - 1])) || c === "*") {
        const j = findClose(s, c, i + 1);
        if (j > i + 1 && (c === "*" || !isWord(s[j + 1]))) { flush(); const em = doc.createElement("em"); inline(s.slice(i + 1, j), doc).forEach(n => em.appendChild(n)); out.push(em); i = j; continue; }
      }
      if (c === "[") {
        const close = findClose(s, "](", i + 1);
        if (close > i) {
          const end = findClose(s, ")", close + 2);
          const url = end > 0 ? s.slice(close + 2, end) : "";
          if (/^https?:\/\/\S+$/.test(url)) {
            flush();
            const a = doc.createElement("a");
            a.href = url; a.target = "_blank"; a.rel = "noopener noreferrer";
            inline(s.slice(i + 1, close), doc).forEach(n => a.appendChild(n));
            out.push(a); i = end; continue;
          }
        }
      }
      text += c;
    }
    flush();
    return out;
  }

  function render(md, doc) {
    doc = doc || document;
    const root = doc.createElement("div");
    const lines = String(md || "").replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    const para = [];
    const endPara = () => {
      if (!para.length) return;
      const p = doc.createElement("p");
      inline(para.join(" "), doc).forEach(n => p.appendChild(n));
      root.appendChild(p); para.length = 0;
    };
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) { endPara(); i++; continue; }
      if (/^\s{0,3}>/.test(line)) {
        endPara();
        const inner = [];
        while (i < lines.length && /^\s{0,3}>/.test(lines[i])) { inner.push(lines[i].replace(/^\s{0,3}> ?/, "")); i++; }
        const q = doc.createElement("blockquote");
        q.appendChild(render(inner.join("\n"), doc));
        root.appendChild(q); continue;
      }
      if (/^\s{0,3}[-*+] /.test(line)) {
        endPara();
        const ul = doc.createElement("ul");
        while (i < lines.length && /^\s{0,3}[-*+] /.test(lines[i])) {
          const li = doc.createElement("li");
          inline(lines[i].replace(/^\s{0,3}[-*+] /, ""), doc).forEach(n => li.appendChild(n));
          ul.appendChild(li); i++;
        }
        root.appendChild(ul); continue;
      }
      const h = /^\s{0,3}(#{1,6}) (.*)$/.exec(line);
      if (h) {
        endPara();
        const el = doc.createElement("h" + Math.min(6, h[1].length + 2));
        inline(h[2], doc).forEach(n => el.appendChild(n));
        root.appendChild(el); i++; continue;
      }
      para.push(line.trim()); i++;
    }
    endPara();
    return root;
  }

  global.renderMarkdown = render;
})(window);
