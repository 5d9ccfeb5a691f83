// Shopfloor's pages: each reads its data from the public API in the browser. No inline code (the CSP
// forbids it), no innerHTML with data (everything is set as text), no third-party hosts.
"use strict";

(() => {
  const API = new URL(document.querySelector('meta[name="shopfloor-api"]').content, location.href).href.replace(/\/$/, "");
  const API_ORIGIN = new URL(API).origin;
  const CART_KEY = "shopfloor.cart";
  const CHECKOUT_KEY = "shopfloor.checkout";
  const ADMIN_KEY = "shopfloor.adminKey";
  const TERMINAL = new Set(["DELIVERED", "REJECTED", "CANCELLED"]);
  const CANCELLABLE = new Set(["PENDING", "CONFIRMED", "PAID"]);
  const DOWN_MESSAGE = "We can't reach the shop right now. Please try again in a moment.";

  const $ = (id) => document.getElementById(id);

  function el(tag, attributes = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "className") node.className = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  class ApiDown extends Error {}

  class ApiError extends Error {
    constructor(status, problem) {
      super(describeProblem(status, problem));
      this.status = status;
      this.problem = problem || {};
    }
  }

  function describeProblem(status, problem) {
    if (problem && Array.isArray(problem.errors) && problem.errors.length) {
      return problem.errors.map((error) => `${error.field}: ${error.message}`).join("; ");
    }
    if (problem && (problem.detail || problem.title)) return problem.detail || problem.title;
    return `The shop answered ${status}.`;
  }

  function isDown(status) {
    return status === 502 || status === 503 || status === 504;
  }

  async function readJson(response) {
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  async function api(path, { method = "GET", body, headers = {}, admin = false } = {}) {
    const sent = { Accept: "application/json", ...headers };
    if (body !== undefined) sent["Content-Type"] = "application/json";
    if (admin) sent["X-API-Key"] = adminKey() || "";
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers: sent,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch {
      throw new ApiDown(DOWN_MESSAGE);
    }
    const data = await readJson(response);
    if (isDown(response.status)) throw new ApiDown(DOWN_MESSAGE);
    if (!response.ok) throw new ApiError(response.status, data);
    return { status: response.status, data };
  }

  // The friendly message for an API that does not answer, with a way to try again.
  function showDown(retry) {
    $("notice-text").textContent = DOWN_MESSAGE;
    const button = $("notice-retry");
    button.hidden = !retry;
    button.onclick = () => {
      hideDown();
      retry();
    };
    $("notice").hidden = false;
  }

  function hideDown() {
    $("notice").hidden = true;
  }

  function setStatus(node, text, kind = "") {
    node.textContent = text;
    node.className = `status ${kind}`.trim();
  }

  function money(cents, currency) {
    try {
      return new Intl.NumberFormat("en-US", { style: "currency", currency }).format(cents / 100);
    } catch {
      return `${(cents / 100).toFixed(2)} ${currency}`;
    }
  }

  // image_url is a path under the API's origin ("/api/images/..."), which may not be the page's.
  function imageSource(imageUrl) {
    return new URL(imageUrl, API_ORIGIN + "/").href;
  }

  function randomKey() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes); // randomUUID needs a secure context; plain-http clusters are not one
    return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }

  // ---- cart (localStorage) ----
  function readCart() {
    try {
      const cart = JSON.parse(localStorage.getItem(CART_KEY) || "[]");
      return Array.isArray(cart) ? cart.filter((line) => line && line.sku && line.quantity > 0) : [];
    } catch {
      return [];
    }
  }

  function writeCart(lines) {
    localStorage.setItem(CART_KEY, JSON.stringify(lines));
    showCartCount();
  }

  function addToCart(product, quantity) {
    const lines = readCart();
    const line = lines.find((item) => item.sku === product.sku);
    if (line) line.quantity = Math.min(100, line.quantity + quantity);
    else {
      lines.push({
        sku: product.sku,
        name: product.name,
        price_cents: product.price_cents,
        currency: product.currency,
        quantity,
      });
    }
    writeCart(lines);
  }

  function showCartCount() {
    const count = readCart().reduce((sum, line) => sum + line.quantity, 0);
    $("cart-count").textContent = String(count);
  }

  // ---- catalog ----
  function catalogPage() {
    const pageSize = Number(document.body.dataset.pageSize);
    const form = $("catalog-filters");
    const status = $("catalog-status");
    const grid = $("product-grid");
    let categoriesLoaded = false;

    function query() {
      const params = new URLSearchParams(location.search);
      return {
        q: params.get("q") || "",
        category: params.get("category") || "",
        page: Math.max(1, Number.parseInt(params.get("page") || "1", 10) || 1),
      };
    }

    function go(next) {
      const params = new URLSearchParams();
      if (next.q) params.set("q", next.q);
      if (next.category) params.set("category", next.category);
      if (next.page > 1) params.set("page", String(next.page));
      const search = params.toString();
      history.pushState(null, "", search ? `/?${search}` : "/");
      load();
    }

    async function loadCategories() {
      // No categories endpoint: the first page of 100 products names them well enough for a shop this size.
      const { data } = await api("/products?limit=100");
      const names = [...new Set(data.items.map((product) => product.category))].sort();
      const select = $("category");
      const chosen = query().category;
      for (const name of names) select.append(el("option", { value: name, text: name }));
      if (chosen && !names.includes(chosen)) select.append(el("option", { value: chosen, text: chosen }));
      select.value = chosen;
      categoriesLoaded = true;
    }

    function card(product) {
      const picture = product.image_url
        ? el("img", { className: "thumb", src: imageSource(product.image_url), alt: product.name, loading: "lazy" })
        : el("div", { className: "noimage", text: "No picture yet" });
      const stock =
        product.stock > 0
          ? el("p", { className: "muted", text: `${product.stock} in stock` })
          : el("p", { className: "out", text: "Out of stock" });
      return el(
        "li",
        {},
        el(
          "article",
          { className: "product-card", "data-sku": product.sku },
          el(
            "a",
            { className: "card-link", href: `/products/${encodeURIComponent(product.sku)}` },
            picture,
            el(
              "div",
              { className: "card-body" },
              el("h2", { text: product.name }),
              el("p", { className: "price", text: money(product.price_cents, product.currency) }),
              stock,
            ),
          ),
        ),
      );
    }

    async function load() {
      const current = query();
      form.q.value = current.q;
      $("category").value = current.category;
      setStatus(status, "Loading products…");
      const params = new URLSearchParams({ limit: String(pageSize), offset: String((current.page - 1) * pageSize) });
      if (current.q) params.set("q", current.q);
      if (current.category) params.set("category", current.category);
      try {
        if (!categoriesLoaded) await loadCategories();
        const { data } = await api(`/products?${params}`);
        hideDown();
        grid.replaceChildren(...data.items.map(card));
        const pages = Math.max(1, Math.ceil(data.total / pageSize));
        if (data.total === 0) {
          setStatus(
            status,
            current.q || current.category
              ? "No products match your search."
              : "The catalog is empty: no products have been added yet.",
          );
        } else {
          setStatus(status, `${data.total} product${data.total === 1 ? "" : "s"}`);
        }
        $("pagination").hidden = data.total <= pageSize;
        $("page-info").textContent = `Page ${current.page} of ${pages}`;
        $("page-prev").disabled = current.page <= 1;
        $("page-next").disabled = current.page >= pages;
      } catch (error) {
        grid.replaceChildren();
        $("pagination").hidden = true;
        if (error instanceof ApiDown) {
          setStatus(status, "The catalog can't be shown right now.", "error");
          showDown(load);
        } else {
          setStatus(status, error.message, "error");
        }
      }
    }

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      go({ q: form.q.value.trim(), category: $("category").value, page: 1 });
    });
    $("category").addEventListener("change", () => go({ ...query(), category: $("category").value, page: 1 }));
    $("page-prev").addEventListener("click", () => go({ ...query(), page: query().page - 1 }));
    $("page-next").addEventListener("click", () => go({ ...query(), page: query().page + 1 }));
    window.addEventListener("popstate", load);
    load();
  }

  // ---- product ----
  function productPage() {
    const sku = document.body.dataset.sku;
    const status = $("product-status");
    let product = null;

    async function load() {
      setStatus(status, "Loading the product…");
      try {
        ({ data: product } = await api(`/products/${encodeURIComponent(sku)}`));
      } catch (error) {
        if (error instanceof ApiDown) {
          setStatus(status, "This product can't be shown right now.", "error");
          showDown(load);
        } else if (error.status === 404) {
          document.title = "Product not found · Shopfloor";
          setStatus(status, `There is no product ${sku}. It may have been removed.`, "error");
        } else {
          setStatus(status, error.message, "error");
        }
        return;
      }
      hideDown();
      status.textContent = "";
      document.title = `${product.name} · Shopfloor`;
      $("product-name").textContent = product.name;
      $("product-sku").textContent = product.sku;
      $("product-category").textContent = product.category;
      $("product-price").textContent = money(product.price_cents, product.currency);
      $("product-description").textContent = product.description;
      $("product-stock").textContent = product.stock > 0 ? `${product.stock} in stock` : "Out of stock";
      $("product-stock").className = product.stock > 0 ? "muted" : "out";
      const image = $("product-image");
      if (product.image_url) {
        image.src = imageSource(product.image_url);
        image.alt = product.name;
        image.hidden = false;
        $("product-noimage").hidden = true;
      }
      $("product").hidden = false;
    }

    $("add-to-cart").addEventListener("submit", (event) => {
      event.preventDefault();
      if (!product) return;
      const quantity = Math.min(100, Math.max(1, Number.parseInt($("quantity").value, 10) || 1));
      addToCart(product, quantity);
      const message = $("cart-message");
      message.replaceChildren(`Added ${quantity} × ${product.name} to your cart. `, el("a", { href: "/cart", text: "Go to the cart" }));
      message.className = "status ok";
    });
    load();
  }

  // ---- cart and checkout ----
  function cartPage() {
    const form = $("checkout-form");
    const button = $("checkout-button");
    const status = $("checkout-status");
    let inFlight = false;

    function render() {
      const lines = readCart();
      $("cart-empty").hidden = lines.length > 0;
      $("cart-section").hidden = lines.length === 0;
      const currency = lines.length ? lines[0].currency : "USD";
      $("cart-lines").replaceChildren(
        ...lines.map((line) => {
          const inputId = `qty-${line.sku}`;
          const quantity = el("input", {
            id: inputId,
            type: "number",
            min: 1,
            max: 100,
            value: line.quantity,
            onchange: (event) => {
              const value = Math.min(100, Math.max(1, Number.parseInt(event.target.value, 10) || 1));
              writeCart(readCart().map((item) => (item.sku === line.sku ? { ...item, quantity: value } : item)));
              render();
            },
          });
          return el(
            "tr",
            { "data-sku": line.sku },
            el("td", {}, el("a", { href: `/products/${encodeURIComponent(line.sku)}`, text: line.name })),
            el("td", {}, el("label", { for: inputId, className: "visually-hidden", text: `Quantity of ${line.name}` }), quantity),
            el("td", { text: money(line.price_cents * line.quantity, line.currency) }),
            el(
              "td",
              {},
              el("button", {
                type: "button",
                className: "button secondary small",
                text: "Remove",
                "aria-label": `Remove ${line.name}`,
                onclick: () => {
                  writeCart(readCart().filter((item) => item.sku !== line.sku));
                  render();
                },
              }),
            ),
          );
        }),
      );
      const total = lines.reduce((sum, line) => sum + line.price_cents * line.quantity, 0);
      $("cart-total").textContent = money(total, currency);
    }

    // One Idempotency-Key per checkout attempt: made when the attempt starts and kept (across a retry,
    // a double click or a reload) until the order exists or the cart or the details change.
    function attemptKey(body) {
      const payload = JSON.stringify(body);
      try {
        const saved = JSON.parse(sessionStorage.getItem(CHECKOUT_KEY) || "null");
        if (saved && saved.payload === payload) return saved.key;
      } catch {
        // an unreadable attempt is replaced below
      }
      const key = randomKey();
      sessionStorage.setItem(CHECKOUT_KEY, JSON.stringify({ key, payload }));
      return key;
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (inFlight) return;
      const lines = readCart();
      if (!lines.length) return;
      inFlight = true;
      button.disabled = true;
      setStatus(status, "Placing your order…");
      const body = {
        items: lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
        customer: { name: form.name.value.trim(), email: form.email.value.trim(), address: form.address.value.trim() },
      };
      const key = attemptKey(body);
      try {
        const { data: order } = await api("/orders", { method: "POST", body, headers: { "Idempotency-Key": key } });
        sessionStorage.removeItem(CHECKOUT_KEY);
        if (order.status !== "REJECTED") writeCart([]); // a rejected cart stays, to be changed and retried
        location.assign(`/orders/${encodeURIComponent(order.id)}`);
      } catch (error) {
        inFlight = false;
        button.disabled = false;
        if (error instanceof ApiDown) {
          setStatus(status, "Your order could not be sent. Press “Place order” again: it will not be placed twice.", "error");
          showDown(null);
        } else {
          setStatus(status, `The order was not accepted: ${error.message}`, "error");
        }
      }
    });
    window.addEventListener("storage", render);
    render();
  }

  // ---- order tracking ----
  function orderPage() {
    const orderId = document.body.dataset.orderId;
    const line = $("order-status-line");
    let timer = null;
    let failures = 0;
    $("order-id").textContent = orderId;

    function render(order) {
      $("order").hidden = false;
      line.textContent = "";
      const badge = $("order-status");
      badge.textContent = order.status;
      badge.className = `badge ${order.status}`;
      const last = order.events[order.events.length - 1];
      const reason = $("order-reason");
      if ((order.status === "REJECTED" || order.status === "CANCELLED") && last) {
        reason.textContent = `Why: ${last.reason}`;
        reason.hidden = false;
      } else reason.hidden = true;
      $("order-lines").replaceChildren(
        ...order.items.map((item) =>
          el(
            "tr",
            {},
            el("td", { text: item.name }),
            el("td", { text: String(item.quantity) }),
            el("td", { text: money(item.line_total_cents, order.currency) }),
          ),
        ),
      );
      $("order-total").textContent = money(order.total_cents, order.currency);
      $("order-history").replaceChildren(
        ...order.events.map((event) =>
          el(
            "li",
            {},
            el("time", { datetime: event.at, text: new Date(event.at).toLocaleString() }),
            ` — ${event.from_status ? `${event.from_status} → ` : ""}${event.to_status}${event.reason ? `: ${event.reason}` : ""}`,
          ),
        ),
      );
      $("cancel-order").hidden = !CANCELLABLE.has(order.status);
      $("order-refresh").hidden = TERMINAL.has(order.status);
    }

    async function refresh() {
      clearTimeout(timer);
      let order;
      try {
        ({ data: order } = await api(`/orders/${encodeURIComponent(orderId)}`));
        failures = 0;
        hideDown();
      } catch (error) {
        if (error instanceof ApiDown) {
          failures += 1;
          showDown(refresh);
          if ($("order").hidden) setStatus(line, "This order can't be shown right now.", "error");
          timer = setTimeout(refresh, Math.min(30000, 2000 * 2 ** failures));
        } else if (error.status === 404) {
          setStatus(line, `There is no order ${orderId}.`, "error");
        } else {
          setStatus(line, error.message, "error");
        }
        return;
      }
      render(order);
      if (!TERMINAL.has(order.status)) timer = setTimeout(refresh, order.status === "PENDING" ? 1500 : 5000);
    }

    $("cancel-order").addEventListener("click", async () => {
      const button = $("cancel-order");
      button.disabled = true;
      try {
        const { data } = await api(`/orders/${encodeURIComponent(orderId)}/cancel`, { method: "POST" });
        render(data);
      } catch (error) {
        if (error instanceof ApiDown) showDown(null);
        else setStatus(line, error.message, "error");
      } finally {
        button.disabled = false;
      }
    });
    refresh();
  }

  // ---- admin ----
  function adminKey() {
    return sessionStorage.getItem(ADMIN_KEY);
  }

  function adminPage() {
    const transitions = JSON.parse(document.body.dataset.transitions);
    const status = $("admin-status");
    const form = $("product-form");
    let editing = null;

    function refused(error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        sessionStorage.removeItem(ADMIN_KEY);
        $("admin-panels").hidden = true;
        setStatus(status, "The admin key was refused. Enter the right key.", "error");
        $("admin-key").focus();
        return true;
      }
      return false;
    }

    function report(node, error) {
      if (refused(error)) return;
      if (error instanceof ApiDown) {
        showDown(null);
        setStatus(node, "The shop is not answering; nothing was changed.", "error");
      } else setStatus(node, error.message, "error");
    }

    function unlock() {
      const has = Boolean(adminKey());
      $("admin-panels").hidden = !has;
      if (has) {
        setStatus(status, "Admin key set for this tab.", "ok");
        loadProducts();
        loadOrders();
      }
    }

    function startNew() {
      editing = null;
      form.reset();
      form.sku.readOnly = false;
      $("product-form-heading").textContent = "New product";
      $("product-save").textContent = "Create product";
    }

    function edit(product) {
      editing = product.sku;
      form.sku.value = product.sku;
      form.sku.readOnly = true;
      form.name.value = product.name;
      form.category.value = product.category;
      form.price_cents.value = product.price_cents;
      form.currency.value = product.currency;
      form.stock.value = product.stock;
      form.description.value = product.description;
      $("product-form-heading").textContent = `Edit ${product.sku}`;
      $("product-save").textContent = "Save changes";
      chooseImage(product.sku);
      form.name.focus();
    }

    function chooseImage(sku) {
      $("image-form").hidden = false;
      $("image-form").dataset.sku = sku;
      $("image-sku").textContent = sku;
      $("image-progress").hidden = true;
      setStatus($("image-status"), "");
    }

    async function loadProducts() {
      try {
        const { data } = await api("/products?limit=100");
        $("admin-products").replaceChildren(
          ...data.items.map((product) =>
            el(
              "tr",
              { "data-sku": product.sku },
              el("td", { className: "mono", text: product.sku }),
              el("td", { text: product.name }),
              el("td", { text: String(product.stock) }),
              el("td", { text: money(product.price_cents, product.currency) }),
              el(
                "td",
                {},
                el(
                  "div",
                  { className: "row-actions" },
                  el("button", { type: "button", className: "button secondary small", text: "Edit", "aria-label": `Edit ${product.sku}`, onclick: () => edit(product) }),
                  el("button", { type: "button", className: "button secondary small", text: "Picture", "aria-label": `Picture for ${product.sku}`, onclick: () => chooseImage(product.sku) }),
                ),
              ),
            ),
          ),
        );
      } catch (error) {
        report(status, error);
      }
    }

    async function loadOrders() {
      const chosen = $("orders-status").value;
      const line = $("orders-status-line");
      try {
        const { data } = await api(`/orders?limit=50${chosen ? `&status=${chosen}` : ""}`);
        setStatus(line, data.total ? `${data.total} order${data.total === 1 ? "" : "s"}` : "No orders yet.");
        $("admin-orders").replaceChildren(
          ...data.items.map((order) =>
            el(
              "tr",
              { "data-order": order.id },
              el("td", {}, el("a", { className: "mono", href: `/orders/${encodeURIComponent(order.id)}`, text: order.id.slice(0, 12) })),
              el("td", {}, el("span", { className: `badge ${order.status}`, text: order.status })),
              el("td", { text: money(order.total_cents, order.currency) }),
              el(
                "td",
                {},
                el(
                  "div",
                  { className: "row-actions" },
                  ...(transitions[order.status] || []).map((target) =>
                    el("button", {
                      type: "button",
                      className: "button secondary small",
                      text: target,
                      "aria-label": `Move order ${order.id} to ${target}`,
                      onclick: () => move(order.id, target),
                    }),
                  ),
                ),
              ),
            ),
          ),
        );
      } catch (error) {
        report(line, error);
      }
    }

    async function move(orderId, target) {
      const line = $("orders-status-line");
      try {
        await api(`/orders/${encodeURIComponent(orderId)}/transitions`, { method: "POST", body: { to: target }, admin: true });
        await loadOrders();
        setStatus(line, `Order ${orderId} is now ${target}.`, "ok"); // after the reload, which sets its own line
      } catch (error) {
        report(line, error);
      }
    }

    $("admin-key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(ADMIN_KEY, $("admin-key").value);
      $("admin-key").value = "";
      unlock();
    });
    $("admin-forget").addEventListener("click", () => {
      sessionStorage.removeItem(ADMIN_KEY);
      $("admin-panels").hidden = true;
      setStatus(status, "The key is forgotten.");
    });
    $("product-new").addEventListener("click", startNew);
    $("orders-filter").addEventListener("submit", (event) => {
      event.preventDefault();
      loadOrders();
    });
    for (const name of Object.keys(transitions)) $("orders-status").append(el("option", { value: name, text: name }));

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const node = $("product-form-status");
      const fields = {
        name: form.name.value.trim(),
        category: form.category.value.trim(),
        price_cents: Number(form.price_cents.value),
        currency: form.currency.value.trim(),
        stock: Number(form.stock.value),
        description: form.description.value,
      };
      $("product-save").disabled = true;
      try {
        const sku = editing || form.sku.value.trim();
        if (editing) {
          await api(`/products/${encodeURIComponent(sku)}`, { method: "PATCH", body: fields, admin: true });
          setStatus(node, `Saved ${sku}.`, "ok");
        } else {
          await api("/products", { method: "POST", body: { sku, ...fields }, admin: true });
          setStatus(node, `Created ${sku}. Add a picture below.`, "ok");
          editing = sku;
          form.sku.readOnly = true;
          $("product-form-heading").textContent = `Edit ${sku}`;
          $("product-save").textContent = "Save changes";
        }
        chooseImage(sku);
        await loadProducts();
      } catch (error) {
        report(node, error);
      } finally {
        $("product-save").disabled = false;
      }
    });

    // XMLHttpRequest rather than fetch: only it reports upload progress.
    $("image-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const sku = $("image-form").dataset.sku;
      const file = $("image-file").files[0];
      const node = $("image-status");
      const progress = $("image-progress");
      if (!file) return;
      const body = new FormData();
      body.append("image", file);
      const request = new XMLHttpRequest();
      request.open("PUT", `${API}/products/${encodeURIComponent(sku)}/image`);
      request.setRequestHeader("X-API-Key", adminKey() || "");
      request.setRequestHeader("Accept", "application/json");
      progress.value = 0;
      progress.hidden = false;
      $("image-upload").disabled = true;
      setStatus(node, "Uploading…");
      request.upload.addEventListener("progress", (progressEvent) => {
        if (progressEvent.lengthComputable) progress.value = Math.round((progressEvent.loaded * 100) / progressEvent.total);
      });
      request.addEventListener("load", () => {
        $("image-upload").disabled = false;
        let problem = null;
        try {
          problem = JSON.parse(request.responseText);
        } catch {
          problem = null;
        }
        if (request.status >= 200 && request.status < 300) {
          progress.value = 100;
          setStatus(node, `Uploaded the picture for ${sku}.`, "ok");
          loadProducts();
        } else if (isDown(request.status)) report(node, new ApiDown(DOWN_MESSAGE));
        else report(node, new ApiError(request.status, problem));
      });
      request.addEventListener("error", () => {
        $("image-upload").disabled = false;
        report(node, new ApiDown(DOWN_MESSAGE));
      });
      request.send(body);
    });
    unlock();
  }

  const pages = { catalog: catalogPage, product: productPage, cart: cartPage, order: orderPage, admin: adminPage };
  showCartCount();
  window.addEventListener("storage", showCartCount);
  const start = pages[document.body.dataset.page];
  if (start) start();
})();
