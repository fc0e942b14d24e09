/* The convolution explorer: choose the input size, kernel size, stride,
 * padding and dilation of a Conv2d or MaxPool2d layer and see which input
 * cells each output cell reads, with the output-size formula evaluated live.
 * Plain JavaScript, no library, nothing fetched. Any element with the class
 * "conv-explorer" becomes one; its text follows the page's language (lang
 * attribute, or data-lang on the element). tests/test_explorer.py checks it
 * against torch.nn.Conv2d and MaxPool2d.
 */
(function () {
  "use strict";

  const TEXT = {
    en: {
      title: "Convolution explorer",
      to: " to ",
      comma: ", ",
      layer: "Layer",
      conv: "Convolution (Conv2d)",
      pool: "Max pooling (MaxPool2d)",
      n: "Input size n",
      k: "Kernel size k",
      s: "Stride s",
      p: "Padding p",
      d: "Dilation d",
      cin: "In channels",
      channels: "Channels",
      cout: "Out channels",
      ceil: "ceil_mode (round up)",
      input: (n, p) => `Input ${n} × ${n}` + (p ? `, padded by ${p} on each side (gray)` : ""),
      output: (o) => `Output ${o} × ${o}`,
      outputLabel: "Output cells: use the arrow keys, or hover",
      prev: "◀ Previous",
      next: "Next ▶",
      play: "▶ Play",
      pause: "❚❚ Pause",
      legendRead: "read by the chosen output cell",
      legendPad: (pool) => (pool ? "padding it covers (−∞: never the maximum)" : "padding it covers (zeros)"),
      legendNever: "read by no output cell",
      reads: (i, j, rows, cols, real, pad, beyond) =>
        `Output (${i}, ${j}) reads input rows ${rows} and columns ${cols}: ${plural(real, "input cell")}` +
        (pad ? `, ${plural(pad, "padding cell")}` : "") +
        (beyond ? `; ${plural(beyond, "window position")} past the padding, which PyTorch skips` : "") + ".",
      convShape: (c) => `(${c.cin}, ${c.n}, ${c.n}) → (${c.cout}, ${c.o}, ${c.o}); weight (${c.cout}, ${c.cin}, ${c.k}, ${c.k}) and ${c.cout} ${c.cout === 1 ? "bias" : "biases"}: ${c.params.toLocaleString("en-US")} parameters. Each output value is a weighted sum of ${c.cin} × ${c.k} × ${c.k} = ${c.cin * c.k * c.k} input values, the cells below in every input channel.`,
      poolShape: (c) => `(${c.cin}, ${c.n}, ${c.n}) → (${c.cin}, ${c.o}, ${c.o}); no parameters. Each channel is pooled on its own: an output value is the largest of the ${c.k} × ${c.k} cells below in its channel.`,
      never: (count) => `${plural(count, "input cell")} (dotted) ${count === 1 ? "is" : "are"} read by no output cell: the stride skips ${count === 1 ? "it" : "them"}.`,
      dropped: (start, limit) => `The last window would start at ${start} ≥ n + p = ${limit}, inside the right padding, so PyTorch drops it`,
      notWhole: (name) => `${name} must be a whole number.`,
      noChannels: () => "With 0 input channels a convolution outputs nothing but its biases; this explorer needs at least 1.",
      tooSmall: (name, min) => `${name} must be at least ${min}: PyTorch rejects smaller values.`,
      tooLarge: (name, max) => `This explorer draws ${name.charAt(0).toLowerCase() + name.slice(1)} up to ${max} (PyTorch itself allows more).`,
      tooBig: (keff, k, d, padded, n, p) => `No window fits: the kernel spans d(k − 1) + 1 = ${d}×(${k} − 1) + 1 = ${keff} cells, more than the padded input's n + 2p = ${n} + 2×${p} = ${padded}. PyTorch raises an error.`,
      poolPad: (p, k) => `MaxPool2d accepts padding of at most half the kernel size, ⌊k / 2⌋ = ${Math.floor(k / 2)}; with p = ${p} PyTorch raises an error (“pad should be at most half of effective kernel size”).`,
      noOutput: (o) => `The output would have ${o} cells per side: the window does not fit even once. PyTorch raises an error (“Output size is too small”).`,
    },
    zh: {
      title: "卷积演示器",
      to: " 至 ",
      comma: "、",
      layer: "层",
      conv: "卷积（Conv2d）",
      pool: "最大池化（MaxPool2d）",
      n: "输入边长 n",
      k: "卷积核边长 k",
      s: "步幅 s",
      p: "填充 p",
      d: "空洞 d",
      cin: "输入通道",
      channels: "通道",
      cout: "输出通道",
      ceil: "ceil_mode（向上取整）",
      input: (n, p) => `输入 ${n} × ${n}` + (p ? `，四周各填充 ${p} 格（灰色）` : ""),
      output: (o) => `输出 ${o} × ${o}`,
      outputLabel: "输出格子：用方向键选择，或把鼠标移上去",
      prev: "◀ 上一个",
      next: "下一个 ▶",
      play: "▶ 播放",
      pause: "❚❚ 暂停",
      legendRead: "所选输出格子读取的输入",
      legendPad: (pool) => (pool ? "它覆盖的填充（−∞，永远不是最大值）" : "它覆盖的填充（零）"),
      legendNever: "没有任何输出读取",
      reads: (i, j, rows, cols, real, pad, beyond) =>
        `输出 (${i}, ${j}) 读取输入的第 ${rows} 行、第 ${cols} 列：${real} 个输入格子` +
        (pad ? `，${pad} 个填充格子` : "") +
        (beyond ? `；窗口有 ${beyond} 个位置超出了填充，PyTorch 跳过它们` : "") + "。",
      convShape: (c) => `(${c.cin}, ${c.n}, ${c.n}) → (${c.cout}, ${c.o}, ${c.o})；权重 (${c.cout}, ${c.cin}, ${c.k}, ${c.k}) 加 ${c.cout} 个偏置，共 ${c.params.toLocaleString("en-US")} 个参数。每个输出值是 ${c.cin} × ${c.k} × ${c.k} = ${c.cin * c.k * c.k} 个输入值的加权和：下图中的格子，每个输入通道各一份。`,
      poolShape: (c) => `(${c.cin}, ${c.n}, ${c.n}) → (${c.cin}, ${c.o}, ${c.o})；没有参数。每个通道单独池化：一个输出值是它所在通道里下图 ${c.k} × ${c.k} 个格子的最大值。`,
      never: (count) => `有 ${count} 个输入格子（虚线）没有任何输出读取：步幅把它们跳过了。`,
      dropped: (start, limit) => `最后一个窗口会从 ${start} ≥ n + p = ${limit} 开始，完全落在右边的填充里，所以 PyTorch 丢掉它`,
      notWhole: (name) => `${name} 必须是整数。`,
      noChannels: () => "输入通道为 0 时，卷积只输出它的偏置；这个演示器至少要 1 个输入通道。",
      tooSmall: (name, min) => `${name} 至少是 ${min}：更小的值 PyTorch 不接受。`,
      tooLarge: (name, max) => `这个演示器里，${name} 最大为 ${max}（PyTorch 本身允许更大的值）。`,
      tooBig: (keff, k, d, padded, n, p) => `一个窗口也放不下：卷积核覆盖 d(k − 1) + 1 = ${d}×(${k} − 1) + 1 = ${keff} 格，比填充后的输入 n + 2p = ${n} + 2×${p} = ${padded} 格还长。PyTorch 会报错。`,
      poolPad: (p, k) => `MaxPool2d 的填充最多是卷积核边长的一半，⌊k / 2⌋ = ${Math.floor(k / 2)}；p = ${p} 时 PyTorch 会报错（“pad should be at most half of effective kernel size”）。`,
      noOutput: (o) => `输出每边只有 ${o} 格：窗口一次也放不下。PyTorch 会报错（“Output size is too small”）。`,
    },
  };

  function plural(count, noun) {
    return `${count} ${noun}${count === 1 ? "" : "s"}`;
  }

  // The settings: name, smallest value PyTorch accepts, largest value drawn here, default.
  const FIELDS = [
    ["n", 1, 16, 7],
    ["k", 1, 7, 3],
    ["s", 1, 4, 1],
    ["p", 0, 4, 1],
    ["d", 1, 4, 1],
    ["cin", 1, 8, 1],
    ["cout", 1, 16, 1],
  ];

  const floorDiv = (a, b) => Math.floor(a / b);

  /**
   * The layer's geometry, as PyTorch computes it, or the reason it has none.
   * mode: "conv" or "pool"; v: {n, k, s, p, d, cin, cout, ceil}.
   * Returns {o, keff, numerator, dropped} or {error: {kind, args}}; kind
   * "pytorch" means PyTorch rejects the setting, "limit" that only this
   * explorer does (it draws at most the FIELDS' maxima).
   */
  function geometry(mode, v) {
    for (const [name, min, max] of FIELDS) {
      if (name === "cout" && mode === "pool") continue;
      const value = v[name];
      if (!Number.isInteger(value)) return { error: { kind: "pytorch", key: "notWhole", field: name } };
      if (name === "cin" && mode === "conv" && value === 0) return { error: { kind: "limit", key: "noChannels" } };
      if (value < min) return { error: { kind: "pytorch", key: "tooSmall", field: name, args: [min] } };
      if (value > max) return { error: { kind: "limit", key: "tooLarge", field: name, args: [max] } };
    }
    const { n, k, s, p, d } = v;
    const keff = d * (k - 1) + 1, padded = n + 2 * p, numerator = padded - keff;
    if (mode === "conv") {
      if (keff > padded) return { error: { kind: "pytorch", key: "tooBig", args: [keff, k, d, padded, n, p] } };
      return { o: floorDiv(numerator, s) + 1, keff, numerator, dropped: false };
    }
    if (p > Math.floor(k / 2)) return { error: { kind: "pytorch", key: "poolPad", args: [p, k] } };
    let o = (v.ceil ? floorDiv(numerator + s - 1, s) : floorDiv(numerator, s)) + 1;
    let dropped = false;
    if (v.ceil && (o - 1) * s >= n + p) {
      o -= 1;
      dropped = true;
    }
    if (o < 1) return { error: { kind: "pytorch", key: "noOutput", args: [o] } };
    return { o, keff, numerator, dropped };
  }

  /** The input rows (or columns) output index i reads, padding included: i·s − p + a·d for a < k. */
  function taps(i, v) {
    const at = [];
    for (let a = 0; a < v.k; a++) at.push(i * v.s - v.p + a * v.d);
    return at;
  }

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  const minus = (x) => String(x).replace("-", "−");

  /** "0, 2, 4" or "1 to 3": the taps that fall on real input or padding. */
  function describe(list, T) {
    const consecutive = list.length > 2 && list.every((x, i) => i === 0 || x === list[i - 1] + 1);
    return consecutive ? `${minus(list[0])}${T.to}${minus(list[list.length - 1])}` : list.map(minus).join(T.comma);
  }

  let counter = 0;

  function setUp(root) {
    root.dataset.ready = "true";
    const lang = (root.dataset.lang || root.closest("[lang]")?.getAttribute("lang") || "en").toLowerCase();
    const T = lang.startsWith("zh") ? TEXT.zh : TEXT.en;
    const id = `conv-explorer-${++counter}`;
    const state = { mode: root.dataset.mode === "pool" ? "pool" : "conv", selected: 0, timer: null };

    // ---- the controls ----
    const modes = el("fieldset", { class: "conv-explorer__modes" }, el("legend", { text: T.layer }));
    for (const mode of ["conv", "pool"]) {
      const radio = el("input", { type: "radio", name: `${id}-mode`, value: mode });
      radio.checked = mode === state.mode;
      modes.append(el("label", {}, radio, " ", T[mode]));
    }
    const inputs = {};
    const fields = el("div", { class: "conv-explorer__fields" });
    for (const [name, min, max, initial] of FIELDS) {
      const value = root.dataset[name] !== undefined ? root.dataset[name] : initial;
      const input = el("input", {
        type: "number", min: String(min), max: String(max), step: "1", value: String(value),
        inputmode: "numeric", "data-field": name,
      });
      inputs[name] = input;
      fields.append(el("label", { class: `conv-explorer__field conv-explorer__field--${name}` },
        el("span", { text: T[name] }), input));
    }
    const cinLabel = fields.querySelector(".conv-explorer__field--cin span");
    const ceil = el("input", { type: "checkbox", "data-field": "ceil" });
    const ceilLabel = el("label", { class: "conv-explorer__field conv-explorer__field--ceil" }, ceil, " ", T.ceil);
    fields.append(ceilLabel);

    const formula = el("p", { class: "conv-explorer__formula" });
    const shape = el("p", { class: "conv-explorer__shape" });
    const error = el("p", { class: "conv-explorer__error", role: "status" });
    const inputCaption = el("p", { class: "conv-explorer__caption" });
    const inputGrid = el("div", { class: "conv-explorer__grid conv-explorer__input", role: "img" });
    const outputCaption = el("p", { class: "conv-explorer__caption", id: `${id}-out` });
    const outputGrid = el("div", {
      class: "conv-explorer__grid conv-explorer__output", role: "grid", "aria-labelledby": `${id}-out`,
      "aria-describedby": `${id}-help`,
    });
    const help = el("span", { class: "conv-explorer__help", id: `${id}-help`, text: T.outputLabel });
    const buttons = el("div", { class: "conv-explorer__buttons" });
    const prev = el("button", { type: "button", "data-action": "prev", text: T.prev });
    const next = el("button", { type: "button", "data-action": "next", text: T.next });
    const play = el("button", { type: "button", "data-action": "play", "aria-pressed": "false", text: T.play });
    buttons.append(prev, next, play);
    const status = el("p", { class: "conv-explorer__status", "aria-live": "polite" });
    const never = el("p", { class: "conv-explorer__never" });
    const legend = el("ul", { class: "conv-explorer__legend" });
    const drawing = el("div", { class: "conv-explorer__drawing" },
      el("div", { class: "conv-explorer__panel" }, inputCaption, inputGrid),
      el("div", { class: "conv-explorer__panel" }, outputCaption, help, outputGrid, buttons));
    root.replaceChildren(el("p", { class: "conv-explorer__title", text: T.title }),
      modes, fields, formula, shape, error, drawing, status, legend, never);

    // ---- reading and drawing ----
    let v = {}, g = {}, inputCells = [], outputCells = [];

    function read() {
      const text = (name) => inputs[name].value.trim();
      v = { ceil: ceil.checked };
      for (const [name] of FIELDS) v[name] = text(name) === "" ? NaN : Number(text(name));
      if (state.mode === "pool") v.cout = v.cin;
    }

    function render() {
      stop();
      read();
      const pool = state.mode === "pool";
      root.dataset.mode = state.mode;
      fields.querySelector(".conv-explorer__field--cout").hidden = pool;
      ceilLabel.hidden = !pool;
      cinLabel.textContent = pool ? T.channels : T.cin;
      g = geometry(state.mode, v);
      if (g.error) {
        const e = g.error;
        const args = e.field ? [T[e.field], ...(e.args || [])] : e.args;
        error.textContent = T[e.key](...args);
        error.dataset.kind = e.kind;
        root.dataset.out = "";
        delete root.dataset.params;
        for (const node of [formula, shape, drawing, status, legend, never]) node.hidden = true;
        for (const node of [formula, shape, status, never]) node.textContent = "";
        inputGrid.replaceChildren();
        outputGrid.replaceChildren();
        inputCells = outputCells = [];
        return;
      }
      error.textContent = "";
      delete error.dataset.kind;
      for (const node of [formula, shape, drawing, status, legend]) node.hidden = false;
      const { n, k, s, p, d, cin, cout } = v;
      const o = g.o;
      root.dataset.out = String(o);
      const params = pool ? 0 : cout * cin * k * k + cout;
      root.dataset.params = String(params);

      // The formula, with the numbers put in.
      const [open, close] = v.ceil && pool ? ["⌈", "⌉"] : ["⌊", "⌋"];
      let text = `o = ${open}(n + 2p − d(k − 1) − 1) / s${close} + 1 = ${open}(${n} + 2×${p} − ${d}×(${k} − 1) − 1) / ${s}${close} + 1` +
        ` = ${open}${minus(g.numerator)} / ${s}${close} + 1 = ${g.dropped ? g.o + 1 : o}`;
      if (g.dropped) text += `. ${T.dropped(o * s, n + p)}: o = ${o}`;
      formula.textContent = text;
      shape.textContent = (pool ? `MaxPool2d(kernel_size=${k}, stride=${s}, padding=${p}, dilation=${d}${v.ceil ? ", ceil_mode=True" : ""}): ` :
        `Conv2d(${cin}, ${cout}, kernel_size=${k}, stride=${s}, padding=${p}, dilation=${d}): `) +
        (pool ? T.poolShape : T.convShape)({ n, k, o, cin, cout, params });

      // The padded input: rows and columns −p … n + p − 1.
      const side = n + 2 * p;
      inputGrid.style.setProperty("--cols", side);
      inputGrid.setAttribute("aria-label", T.input(n, p));
      inputCaption.textContent = T.input(n, p);
      const reached = new Set();
      for (let i = 0; i < o; i++) for (const r of taps(i, v)) reached.add(r);
      inputCells = [];
      const inputFragment = document.createDocumentFragment();
      for (let r = -p; r < n + p; r++) {
        for (let c = -p; c < n + p; c++) {
          const pad = r < 0 || r >= n || c < 0 || c >= n;
          const cell = el("span", { class: "conv-explorer__cell" + (pad ? " is-pad" : ""), "data-r": r, "data-c": c });
          if (!pad && !(reached.has(r) && reached.has(c))) cell.classList.add("is-never");
          inputCells.push(cell);
          inputFragment.append(cell);
        }
      }
      inputGrid.replaceChildren(inputFragment);
      const neverCount = inputCells.filter((cell) => cell.classList.contains("is-never")).length;
      never.hidden = neverCount === 0;
      never.textContent = neverCount ? T.never(neverCount) : "";
      legend.replaceChildren(
        el("li", {}, el("span", { class: "conv-explorer__swatch is-read" }), T.legendRead),
        el("li", {}, el("span", { class: "conv-explorer__swatch is-pad is-read" }), T.legendPad(pool)));
      if (neverCount) legend.append(el("li", {}, el("span", { class: "conv-explorer__swatch is-never" }), T.legendNever));

      // The output: an o × o grid of cells, one of them in the tab order.
      outputGrid.style.setProperty("--cols", o);
      outputCaption.textContent = T.output(o);
      outputCells = [];
      const outputFragment = document.createDocumentFragment();
      for (let i = 0; i < o; i++) {
        const row = el("div", { role: "row", class: "conv-explorer__row" });
        for (let j = 0; j < o; j++) {
          const cell = el("span", {
            role: "gridcell", class: "conv-explorer__cell", tabindex: "-1", "data-i": i, "data-j": j,
            "aria-label": `(${i}, ${j})`,
          });
          outputCells.push(cell);
          row.append(cell);
        }
        outputFragment.append(row);
      }
      outputGrid.replaceChildren(outputFragment);
      select(Math.min(state.selected, outputCells.length - 1), false);
    }

    /** Light the input cells output cell `index` reads; move focus there if asked. */
    function select(index, focus) {
      if (!outputCells.length) return;
      index = (index + outputCells.length) % outputCells.length;
      state.selected = index;
      const o = g.o, i = Math.floor(index / o), j = index % o;
      const { n, p } = v;
      for (const cell of inputGrid.querySelectorAll(".is-read")) cell.classList.remove("is-read");
      outputCells.forEach((cell, at) => {
        cell.tabIndex = at === index ? 0 : -1;
        cell.classList.toggle("is-selected", at === index);
        cell.setAttribute("aria-selected", String(at === index));
      });
      const rows = taps(i, v), cols = taps(j, v);
      const inside = (x) => x >= -p && x < n + p;
      const real = (x) => x >= 0 && x < n;
      const side = n + 2 * p;
      for (const r of rows.filter(inside)) {
        for (const c of cols.filter(inside)) inputCells[(r + p) * side + c + p].classList.add("is-read");
      }
      const shown = rows.filter(inside).length * cols.filter(inside).length;
      const realCount = rows.filter(real).length * cols.filter(real).length;
      status.textContent = T.reads(i, j, describe(rows.filter(inside), T), describe(cols.filter(inside), T),
        realCount, shown - realCount, rows.length * cols.length - shown);
      if (focus) outputCells[index].focus();
    }

    function stop() {
      if (state.timer !== null) {
        clearInterval(state.timer);
        state.timer = null;
        play.textContent = T.play;
        play.setAttribute("aria-pressed", "false");
      }
    }

    // ---- events ----
    modes.addEventListener("change", (event) => {
      state.mode = event.target.value;
      render();
    });
    fields.addEventListener("input", render);
    outputGrid.addEventListener("pointerover", (event) => {
      const cell = event.target.closest("[role=gridcell]");
      if (cell) select(outputCells.indexOf(cell), false);
    });
    outputGrid.addEventListener("click", (event) => {
      const cell = event.target.closest("[role=gridcell]");
      if (cell) { stop(); select(outputCells.indexOf(cell), true); }
    });
    outputGrid.addEventListener("focusin", (event) => {
      const index = outputCells.indexOf(event.target);
      if (index >= 0 && index !== state.selected) select(index, false);
    });
    outputGrid.addEventListener("keydown", (event) => {
      const o = g.o, index = state.selected, i = Math.floor(index / o), j = index % o;
      const moves = {
        ArrowLeft: [i, Math.max(0, j - 1)], ArrowRight: [i, Math.min(o - 1, j + 1)],
        ArrowUp: [Math.max(0, i - 1), j], ArrowDown: [Math.min(o - 1, i + 1), j],
        Home: [i, 0], End: [i, o - 1],
      };
      if (!(event.key in moves)) return;
      event.preventDefault();
      stop();
      const [ni, nj] = moves[event.key];
      select(ni * o + nj, true);
    });
    prev.addEventListener("click", () => { stop(); select(state.selected - 1, false); });
    next.addEventListener("click", () => { stop(); select(state.selected + 1, false); });
    play.addEventListener("click", () => {
      if (state.timer !== null) return stop();
      play.textContent = T.pause;
      play.setAttribute("aria-pressed", "true");
      state.timer = setInterval(() => {
        if (!root.isConnected) return stop();
        select(state.selected + 1, false);
      }, 700);
    });

    render();
    root.convExplorer = { geometry, render, select };
  }

  // Each explorer is built when it comes near the screen: building it and the
  // layout that follows would otherwise add to the page's load (tens of ms on
  // a phone), for a figure most readers reach later.
  function init() {
    const roots = document.querySelectorAll(".conv-explorer:not([data-ready])");
    if (!("IntersectionObserver" in window)) return roots.forEach(setUp);
    const observer = new IntersectionObserver((entries) => {
      for (const entry of entries) {
        if (!entry.isIntersecting) continue;
        observer.unobserve(entry.target);
        if (!entry.target.dataset.ready) setUp(entry.target);
      }
    }, { rootMargin: "100% 0px" });
    roots.forEach((root) => observer.observe(root));
  }

  // Material's instant navigation swaps pages without reloading scripts: its
  // document$ announces every new page (the first one too).
  if (window.convExplorerInit) return window.convExplorerInit();
  window.convExplorerInit = init;
  if (window.document$ && typeof window.document$.subscribe === "function") window.document$.subscribe(init);
  else if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
