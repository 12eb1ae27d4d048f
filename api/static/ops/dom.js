// Building the page from the API's answers: every piece of data becomes a text node or an
// attribute value, never markup. Nothing here sets innerHTML.
const SVG = "http://www.w3.org/2000/svg";

function fill(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function el(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG, tag), attrs, children);
}

export function $(id) {
  return document.getElementById(id);
}

export function show(node, shown) {
  node.hidden = !shown;
}

export function say(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

export function when(iso) {
  if (!iso) return "—";
  return String(iso).replace("T", " ").replace(/(\.\d+)?(Z|\+00:00)$/, " UTC");
}

export function figure(value, unit = "") {
  if (value === null || value === undefined) return "—";
  return `${value}${unit}`;
}
