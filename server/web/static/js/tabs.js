// Tabs as the ARIA authoring practices describe them: one tab in the Tab order (the selected one), arrow keys,
// Home and End move between tabs and select them, each tab shows its own panel and hides the others.

/** Wire a role="tablist" element; `onSelect(tab)` runs after a tab is shown. Returns `select(tabOrId)`. */
export function mountTabs(tablist, onSelect = () => {}) {
  const tabs = [...tablist.querySelectorAll('[role="tab"]')];
  const panelOf = (tab) => document.getElementById(tab.getAttribute("aria-controls"));

  function select(which, { focus = false } = {}) {
    const chosen = typeof which === "string" ? tabs.find((t) => t.id === which) : which;
    if (!chosen) return;
    for (const tab of tabs) {
      const on = tab === chosen;
      tab.setAttribute("aria-selected", String(on));
      tab.tabIndex = on ? 0 : -1;
      panelOf(tab).hidden = !on;
    }
    if (focus) chosen.focus();
    onSelect(chosen);
  }

  tablist.addEventListener("click", (event) => {
    const tab = event.target.closest('[role="tab"]');
    if (tab) select(tab);
  });
  tablist.addEventListener("keydown", (event) => {
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    select(tabs[(next + tabs.length) % tabs.length], { focus: true });
  });
  return select;
}
