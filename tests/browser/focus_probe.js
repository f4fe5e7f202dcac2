// The focused element's outline and how it contrasts with the background behind it (WCAG 2.4.7, 1.4.11).
// Used by test_accessibility.py through page.evaluate; returns null when nothing is focused.
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const rgb = (c) => {
    const m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(parseFloat);
    return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1};
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
  };
  let up = el.parentElement, bg = null;
  while (up) {
    const b = rgb(getComputedStyle(up).backgroundColor);
    if (b && b.a > 0) { bg = b; break; }
    up = up.parentElement;
  }
  bg = bg || {r: 255, g: 255, b: 255, a: 1};
  const cs = getComputedStyle(el), oc = rgb(cs.outlineColor) || bg;
  const l1 = lum(oc), l2 = lum(bg);
  const label = (el.textContent || el.value || '').trim().slice(0, 30);
  const name = el.id ? '#' + el.id : el.tagName.toLowerCase() + ' "' + label + '"';
  return {name, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth) || 0, color: cs.outlineColor,
          background: `rgb(${bg.r}, ${bg.g}, ${bg.b})`,
          ratio: (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05)};
}
