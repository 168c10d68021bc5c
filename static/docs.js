// Renders the OpenAPI document at /api/v1/openapi.json as a reference page:
// operations grouped by tag, then the schemas. Everything is built with DOM
// calls and textContent, never innerHTML, so no text in the document can
// inject markup.
"use strict";

(function () {
  const SPEC_URL = "/api/v1/openapi.json";
  const METHODS = ["get", "put", "post", "patch", "delete", "head", "options"];
  let spec = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) node.setAttribute(name, value);
    }
    append(node, children);
    return node;
  }

  function append(node, children) {
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) append(node, child);
      else node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  function resolve(node) {
    let seen = 0;
    while (node && node.$ref && seen++ < 20) {
      node = node.$ref.replace(/^#\//, "").split("/").reduce((at, key) => (at ? at[key] : undefined), spec);
    }
    return node || {};
  }

  function refName(ref) {
    return ref.split("/").pop();
  }

  // Descriptions use a little Markdown: paragraphs, "- " lists, `code`, **bold**.
  function inline(text) {
    return text.split(/(`[^`]+`|\*\*[^*]+\*\*)/).map((part) => {
      if (/^`[^`]+`$/.test(part)) return el("code", null, part.slice(1, -1));
      if (/^\*\*[^*]+\*\*$/.test(part)) return el("strong", null, part.slice(2, -2));
      return part;
    });
  }

  function prose(text) {
    const box = el("div", { class: "prose" });
    if (!text) return box;
    for (const block of text.split(/\n\s*\n/)) {
      const lines = block.split("\n");
      let list = null;
      let paragraph = [];
      const flush = () => {
        if (paragraph.length) box.append(el("p", null, inline(paragraph.join(" "))));
        paragraph = [];
      };
      for (const line of lines) {
        if (/^\s*- /.test(line)) {
          flush();
          if (!list) box.append((list = el("ul")));
          list.append(el("li", null, inline(line.replace(/^\s*- /, ""))));
        } else {
          list = null;
          paragraph.push(line.trim());
        }
      }
      flush();
    }
    return box;
  }

  function slug(text) {
    return String(text).toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "");
  }

  // A short, linked name for a schema's type: "Account", "array of Balance", "string | null".
  function typeLabel(schema) {
    schema = schema || {};
    if (schema.$ref) return el("a", { href: "#schema-" + refName(schema.$ref), class: "type-ref" }, refName(schema.$ref));
    if (schema.allOf) {
      const named = schema.allOf.find((part) => part.$ref);
      if (named) return typeLabel(named);
    }
    const variants = schema.anyOf || schema.oneOf;
    if (variants && !schema.type) return joinLabels(variants.map(typeLabel));
    if ("const" in schema && !schema.type) return el("code", null, JSON.stringify(schema.const));
    const types = [].concat(schema.type || (schema.properties ? "object" : "any"));
    return joinLabels(
      types.map((type) => {
        if (type === "array") return el("span", null, "array of ", typeLabel(schema.items));
        if (type === "string" && schema.format) return "string (" + schema.format + ")";
        return type;
      })
    );
  }

  function joinLabels(labels) {
    const out = el("span", { class: "type" });
    labels.forEach((label, index) => append(out, [index ? " | " : null, label]));
    return out;
  }

  function chips(values) {
    return values.map((value, index) => [index ? ", " : null, el("code", { class: "chip" }, value === null ? "null" : String(value))]);
  }

  // The rules a value must follow, as short phrases.
  function constraints(schema) {
    schema = schema.$ref ? {} : schema;
    const base = schema.anyOf ? schema.anyOf.find((part) => part.type !== "null") || {} : schema;
    const notes = [];
    const values = schema.enum || base.enum;
    if (values) notes.push(el("span", null, "One of ", chips(values.filter((v) => v !== null)), "."));
    if ("const" in schema) notes.push(el("span", null, "Always ", chips([schema.const]), "."));
    if (schema.pattern) notes.push(el("span", null, "Pattern ", el("code", null, schema.pattern), "."));
    const range = (low, high, unit) => {
      if (low !== undefined && high !== undefined) return `${low} to ${high}${unit}.`;
      if (low !== undefined) return `At least ${low}${unit}.`;
      if (high !== undefined) return `At most ${high}${unit}.`;
      return null;
    };
    const length = range(schema.minLength, schema.maxLength, " characters");
    if (length) notes.push(length);
    const size = range(schema.minimum, schema.maximum, "");
    if (size) notes.push(size);
    if (schema.uniqueItems) notes.push("No duplicates.");
    if (schema.default !== undefined) notes.push(el("span", null, "Default ", chips([schema.default]), "."));
    if (schema.examples) notes.push(el("span", { class: "example" }, "Example ", chips(schema.examples.map((value) => JSON.stringify(value))), "."));
    return notes;
  }

  function describe(schema) {
    const own = schema.description || (schema.$ref ? resolve(schema).description : "") || "";
    const cell = el("td", { class: "about" });
    if (own) cell.append(prose(own));
    const notes = constraints(schema);
    if (notes.length) cell.append(el("p", { class: "rules" }, notes.map((note) => [note, " "])));
    return cell;
  }

  // Merge allOf parts (following $refs) into one object view.
  function flatten(schema) {
    schema = resolve(schema);
    if (!schema.allOf) return schema;
    const merged = { properties: {}, required: [] };
    for (const part of schema.allOf.map(resolve)) {
      const flat = flatten(part);
      Object.assign(merged.properties, flat.properties || {});
      merged.required.push(...(flat.required || []));
      if (flat.description && !merged.description) merged.description = flat.description;
      if (flat.oneOf) merged.oneOf = flat.oneOf;
    }
    return merged;
  }

  function fieldRows(schema, prefix, rows) {
    const flat = flatten(schema);
    const required = new Set(flat.required || []);
    for (const [name, prop] of Object.entries(flat.properties || {})) {
      const label = el("td", { class: "name" }, el("code", null, prefix + name));
      if (required.has(name)) label.append(el("span", { class: "required" }, "required"));
      rows.push(el("tr", null, label, el("td", null, typeLabel(prop)), describe(prop)));
      if (!prop.$ref && prop.properties) fieldRows(prop, prefix + name + ".", rows);
      if (!prop.$ref && prop.items && !prop.items.$ref && prop.items.properties) {
        fieldRows(prop.items, prefix + name + "[].", rows);
      }
    }
    if (flat.additionalProperties && typeof flat.additionalProperties === "object") {
      const label = el("td", { class: "name" }, el("code", null, prefix + "{name}"));
      rows.push(el("tr", null, label, el("td", null, typeLabel(flat.additionalProperties)), describe(flat)));
    }
    return rows;
  }

  function fieldsTable(schema) {
    const flat = flatten(schema);
    const rows = fieldRows(schema, "", []);
    const box = el("div", { class: "fields" });
    if (!rows.length) {
      box.append(el("p", null, "A value of type ", typeLabel(flat), "."));
      if (flat.description) box.append(prose(flat.description));
      const notes = constraints(flat);
      if (notes.length) box.append(el("p", { class: "rules" }, notes.map((note) => [note, " "])));
      return box;
    }
    box.append(
      el("table", null, el("thead", null, el("tr", null, el("th", null, "Field"), el("th", null, "Type"), el("th", null, "Description"))), el("tbody", null, rows))
    );
    if (flat.additionalProperties === false) box.append(el("p", { class: "closed" }, "No other fields."));
    if (flat.oneOf) {
      const variants = flat.oneOf.map((variant) => {
        const when = Object.entries(variant.properties || {}).map(([name, rule]) => [el("code", null, name), " is ", chips([rule.const])]);
        return el("li", null, "when ", when, ", ", (variant.required || []).map((name) => el("code", null, name)), " is present");
      });
      box.append(el("ul", { class: "variants" }, variants));
    }
    return box;
  }

  function pathLabel(path) {
    return el("code", { class: "path" }, path.split(/(\{[^}]+\})/).map((part) => (/^\{/.test(part) ? el("span", { class: "param" }, part) : part)));
  }

  function scopeBadge(scope) {
    if (scope === null || scope === undefined) return el("span", { class: "scope scope-public" }, "public");
    return el("span", { class: "scope scope-" + slug(scope), title: "needs a token with this scope" }, "scope: " + scope);
  }

  function parametersTable(parameters) {
    const rows = parameters.map(resolve).map((parameter) => {
      const label = el("td", { class: "name" }, el("code", null, parameter.name));
      if (parameter.required) label.append(el("span", { class: "required" }, "required"));
      const about = describe(Object.assign({}, parameter.schema || {}, { description: parameter.description || "" }));
      return el("tr", null, label, el("td", null, parameter.in), el("td", null, typeLabel(parameter.schema)), about);
    });
    return el(
      "table",
      { class: "params" },
      el("thead", null, el("tr", null, el("th", null, "Name"), el("th", null, "In"), el("th", null, "Type"), el("th", null, "Description"))),
      el("tbody", null, rows)
    );
  }

  function responseBlock(status, response) {
    response = resolve(response);
    const kind = "status-" + String(status)[0] + "xx";
    const box = el("div", { class: "response " + kind });
    const codes = response["x-error-codes"];
    const description = codes ? response.description.split(/\n\s*\n/)[0] : response.description;
    box.append(el("div", { class: "response-head" }, el("span", { class: "status " + kind }, status), prose(description)));
    const content = (response.content || {})["application/json"];
    if (codes) {
      const rows = Object.entries(codes).map(([code, meaning]) => el("tr", null, el("td", null, el("code", null, code)), el("td", null, inline(meaning))));
      box.append(el("table", { class: "codes" }, el("thead", null, el("tr", null, el("th", null, "error.code"), el("th", null, "Meaning"))), el("tbody", null, rows)));
    } else if (content && content.schema) {
      box.append(el("p", { class: "body-type" }, "Body: ", typeLabel(content.schema)));
    }
    const headers = Object.entries(response.headers || {});
    if (headers.length) {
      box.append(
        el(
          "p",
          { class: "headers" },
          "Headers: ",
          headers.map(([name, header], index) => [index ? ", " : null, el("code", { title: resolve(header).description || "" }, name)])
        )
      );
    }
    return box;
  }

  function renderOperation(path, method, op) {
    const section = el("section", { class: "op", id: "op-" + (op.operationId || slug(method + path)) });
    section.append(
      el("div", { class: "op-head" }, el("span", { class: "method method-" + method }, method.toUpperCase()), pathLabel(path), scopeBadge(op["x-scope"])),
      el("h3", null, op.summary || ""),
      prose(op.description)
    );
    if (op.parameters && op.parameters.length) section.append(el("h4", null, "Parameters"), parametersTable(op.parameters));
    if (op.requestBody) {
      const body = resolve(op.requestBody);
      const schema = ((body.content || {})["application/json"] || {}).schema || {};
      section.append(el("h4", null, "Request body ", el("span", { class: "media" }, "application/json · "), typeLabel(schema)), fieldsTable(schema));
    }
    section.append(el("h4", null, "Responses"));
    const statuses = Object.keys(op.responses || {}).sort();
    for (const status of statuses) section.append(responseBlock(status, op.responses[status]));
    return section;
  }

  function operationsByTag() {
    const groups = new Map((spec.tags || []).map((tag) => [tag.name, { tag, ops: [] }]));
    for (const [path, item] of Object.entries(spec.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const name = (op.tags && op.tags[0]) || "Other";
        if (!groups.has(name)) groups.set(name, { tag: { name }, ops: [] });
        groups.get(name).ops.push({ path, method, op });
      }
    }
    return [...groups.values()].filter((group) => group.ops.length);
  }

  function renderSidebar(groups) {
    const nav = document.getElementById("sidebar");
    const list = el("ul");
    list.append(el("li", { class: "nav-top" }, el("a", { href: "#overview" }, "Overview")));
    for (const { tag, ops } of groups) {
      const items = ops.map(({ path, method, op }) =>
        el("li", null, el("a", { href: "#op-" + op.operationId, title: method.toUpperCase() + " " + path }, el("span", { class: "method mini method-" + method }, method.toUpperCase()), op.summary))
      );
      list.append(el("li", { class: "nav-tag" }, el("a", { href: "#tag-" + slug(tag.name) }, tag.name), el("ul", null, items)));
    }
    list.append(el("li", { class: "nav-top" }, el("a", { href: "#schemas" }, "Schemas")));
    nav.append(list);
  }

  function renderOverview() {
    const info = spec.info || {};
    const section = el("section", { id: "overview", class: "overview" }, el("h1", null, info.title || "API"), prose(info.description));
    const schemes = Object.entries((spec.components || {}).securitySchemes || {});
    if (schemes.length) {
      section.append(el("h2", null, "Authentication"));
      for (const [name, scheme] of schemes) {
        section.append(el("p", null, el("code", null, name), " — ", scheme.type, scheme.scheme ? " " + scheme.scheme : "", ". ", inline(scheme.description || "")));
      }
    }
    return section;
  }

  // A schema that only makes some of another's optional fields required.
  function refinement(schema) {
    const parts = schema.allOf || [];
    const base = parts.find((part) => part.$ref);
    const rest = parts.filter((part) => part !== base);
    if (!base || !rest.every((part) => Object.keys(part).every((key) => key === "required"))) return null;
    const names = rest.flatMap((part) => part.required).map((name, index) => [index ? ", " : null, el("code", null, name)]);
    return el("p", null, "Every field of ", typeLabel(base), ", and ", names, " always present.");
  }

  function renderSchemas() {
    const section = el("section", { id: "schemas" }, el("h2", { class: "tag-title" }, "Schemas"));
    const schemas = (spec.components || {}).schemas || {};
    for (const name of Object.keys(schemas)) {
      const schema = schemas[name];
      const box = el("article", { class: "schema", id: "schema-" + name }, el("h3", null, name));
      if (schema.description && (schema.properties || schema.allOf)) box.append(prose(schema.description));
      box.append(refinement(schema) || fieldsTable(schema));
      section.append(box);
    }
    return section;
  }

  function render(document_) {
    spec = document_;
    const content = document.getElementById("content");
    document.getElementById("loading").remove();
    document.getElementById("version").textContent = "OpenAPI " + spec.openapi + " · " + ((spec.info || {}).version || "");
    document.title = ((spec.info || {}).title || "API") + " reference";
    const groups = operationsByTag();
    renderSidebar(groups);
    content.append(renderOverview());
    for (const { tag, ops } of groups) {
      const section = el("section", { class: "tag", id: "tag-" + slug(tag.name) }, el("h2", { class: "tag-title" }, tag.name));
      if (tag.description) section.append(prose(tag.description));
      for (const { path, method, op } of ops) section.append(renderOperation(path, method, op));
      content.append(section);
    }
    content.append(renderSchemas());
    if (location.hash) {
      const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
      if (target) target.scrollIntoView();
    }
  }

  function fail(problem) {
    const notice = document.getElementById("loading");
    notice.className = "notice error";
    notice.textContent = "Could not load " + SPEC_URL + ": " + problem;
  }

  // The script is deferred, so the page is parsed by now. The request matches
  // the page's <link rel="preload">, so the document arrives with the page.
  fetch(SPEC_URL)
    .then((reply) => (reply.ok ? reply.json() : Promise.reject(new Error("HTTP " + reply.status))))
    .then(render)
    .catch((problem) => fail(problem.message || String(problem)));
})();
