// The demo "EHR": fires patient-view for a bundled example and renders the cards.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SERVICE_ID = "lbp-patient-view";
  let service = null;
  let examples = [];
  let lastServiceUrl = null;

  function el(tag, attrs, children) {
    const n = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => {
      if (k === "text") n.textContent = v; else if (k === "class") n.className = v; else n.setAttribute(k, v);
    });
    (children || []).forEach(c => n.appendChild(c));
    return n;
  }

  function status(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.className = isError ? "error" : "";
  }

  function uuid4() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, x => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  // Prefetch as an EHR would answer the service's templates: reads get the resource,
  // searches get a searchset Bundle of the example's resources of that type.
  function buildPrefetch(templates, resources, patientId) {
    const prefetch = {};
    Object.entries(templates).forEach(([key, template]) => {
      const type = template.split(/[/?]/)[0];
      const matching = resources.filter(r => r.resourceType === type);
      if (template.includes("?")) {
        const bundle = { resourceType: "Bundle", type: "searchset", total: matching.length };
        if (matching.length) bundle.entry = matching.map(r => ({ fullUrl: `${type}/${r.id}`, resource: r, search: { mode: "match" } }));
        prefetch[key] = bundle;
      } else {
        prefetch[key] = matching.find(r => r.id === patientId) || null;
      }
    });
    return prefetch;
  }

  async function postJson(url, body) {
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" }, body: JSON.stringify(body) });
    let json = null;
    try { json = await res.json(); } catch (e) { json = null; }
    return { status: res.status, json: json };
  }

  async function sendFeedback(card, item) {
    if (!lastServiceUrl || !card.uuid) return;
    await postJson(`${lastServiceUrl}/feedback`, { feedback: [Object.assign({ card: card.uuid, outcomeTimestamp: new Date().toISOString() }, item)] });
  }

  function renderCard(card) {
    const node = el("article", { class: `card indicator-${card.indicator}`, "data-indicator": card.indicator, "data-uuid": card.uuid || "" });
    node.appendChild(el("div", { class: "head" }, [
      el("span", { class: "badge", text: card.indicator }),
      el("h2", { class: "summary", text: card.summary }),
    ]));
    if (card.detail) {
      const d = renderMarkdown(card.detail, document);
      d.className = "detail";
      node.appendChild(d);
    }
    const src = card.source || {};
    const srcLine = el("div", { class: "source" });
    srcLine.appendChild(document.createTextNode("Source: "));
    if (src.url) srcLine.appendChild(el("a", { href: src.url, target: "_blank", rel: "noopener noreferrer", text: src.label }));
    else srcLine.appendChild(document.createTextNode(src.label || ""));
    if (src.topic && (src.topic.display || src.topic.code)) srcLine.appendChild(document.createTextNode(` · topic: ${src.topic.display || src.topic.code}`));
    node.appendChild(srcLine);

    const actions = el("div", { class: "actions" });
    (card.suggestions || []).forEach(s => {
      const b = el("button", { type: "button", class: s.isRecommended ? "primary suggestion" : "suggestion", text: s.label });
      b.addEventListener("click", async () => {
        actions.querySelectorAll("button").forEach(x => { x.disabled = true; });
        await sendFeedback(card, { outcome: "accepted", acceptedSuggestions: [{ id: s.uuid }] });
        actions.appendChild(el("span", { class: "accepted", text: `Accepted: ${s.label}` }));
      });
      actions.appendChild(b);
    });
    if (card.overrideReasons) {
      const sel = el("select", { "aria-label": "select dismiss reason" }, [el("option", { value: "", text: "Dismiss reason…" })]);
      card.overrideReasons.forEach((r, i) => sel.appendChild(el("option", { value: String(i), text: `Override: ${r.display}` })));
      const dismiss = el("button", { type: "button", class: "dismiss", text: "Dismiss" });
      dismiss.addEventListener("click", async () => {
        const reason = sel.value === "" ? null : card.overrideReasons[Number(sel.value)];
        const item = { outcome: "overridden" };
        if (reason) item.overrideReason = { reason: reason };
        await sendFeedback(card, item);
        node.remove();
      });
      actions.appendChild(sel); actions.appendChild(dismiss);
    }
    if (actions.childNodes.length) node.appendChild(actions);
    if (card.links) {
      const links = el("div", { class: "links" });
      card.links.forEach(l => {
        if (l.type === "absolute") links.appendChild(el("a", { href: l.url, target: "_blank", rel: "noopener noreferrer", text: l.label }));
        else links.appendChild(el("span", { title: "SMART app launch needs an EHR", text: `${l.label} (SMART app)` }));
      });
      node.appendChild(links);
    }
    return node;
  }

  async function run() {
    const name = $("example").value;
    const box = $("cards");
    box.textContent = "";
    $("run").disabled = true;
    status("Calling patient-view…");
    try {
      const bundle = await (await fetch(`/demo/examples/${encodeURIComponent(name)}`)).json();
      const resources = (bundle.entry || []).map(e => e.resource).filter(Boolean);
      const patient = resources.find(r => r.resourceType === "Patient");
      const request = {
        hook: "patient-view",
        hookInstance: uuid4(),
        context: { userId: "Practitioner/demo-clinician", patientId: patient.id },
        prefetch: buildPrefetch(service.prefetch || {}, resources, patient.id),
      };
      const t0 = performance.now();
      const res = await postJson(lastServiceUrl, request);
      const ms = Math.round(performance.now() - t0);
      if (res.status !== 200) {
        const diag = res.json && res.json.issue ? res.json.issue.map(i => i.diagnostics).join("; ") : "";
        status(`The service answered ${res.status}. ${diag}`, true);
        return;
      }
      const cards = res.json.cards || [];
      status(`${cards.length} card(s) in ${ms} ms`);
      if (!cards.length) box.appendChild(el("p", { class: "empty", text: "No guidance for this patient." }));
      cards.forEach(c => box.appendChild(renderCard(c)));
      box.setAttribute("data-done", "1");
    } catch (e) {
      status(`Could not get a response: ${e}`, true);
    } finally {
      $("run").disabled = false;
    }
  }

  async function init() {
    try {
      const disc = await (await fetch("/cds-services", { headers: { Accept: "application/json" } })).json();
      service = (disc.services || []).find(s => s.id === SERVICE_ID);
      if (!service) throw new Error("service lbp-patient-view not in discovery (is the server in --insecure-dev mode?)");
      lastServiceUrl = `${location.origin}/cds-services/${service.id}`;
      const catalog = await (await fetch("/demo/examples")).json();
      examples = catalog.examples || [];
      if (!catalog.evaluation_instant && examples.length) {
        status(`Evaluated at the current time; the examples are written for ${examples[0].now} (start the server with --now ${examples[0].now}).`);
      }
      const sel = $("example");
      examples.forEach(ex => sel.appendChild(el("option", { value: ex.name, text: `${ex.name}: ${ex.title}${ex.red_flag ? " (red flag)" : ""}` })));
      const wanted = new URLSearchParams(location.search).get("example");
      if (wanted && examples.some(e => e.name === wanted)) sel.value = wanted;
      $("run").addEventListener("click", run);
      document.body.setAttribute("data-ready", "1");
      if (wanted) run();
    } catch (e) {
      status(`Demo unavailable: ${e.message || e}`, true);
    }
  }
  init();
})();
