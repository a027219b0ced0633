// The topic tree: every topic a message arrived on, by level, with its last payload, message count, rate and
// retained flag; selecting a topic shows its last payload in full (and picks it for the values chart).
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { bytes, clock, count, oneLine, rate } from './format.js';

/** Topics -> nested nodes `{ name, path, children: Map, entry?, total }`, children sorted by name. */
function buildTree(topics) {
  const root = { name: '', path: '', children: new Map(), total: 0 };
  for (const entry of topics.values()) {
    let node = root;
    node.total += entry.count;
    const levels = entry.topic.split('/');
    levels.forEach((name, depth) => {
      let child = node.children.get(name);
      if (!child) node.children.set(name, (child = { name, path: levels.slice(0, depth + 1).join('/'), children: new Map(), total: 0 }));
      child.total += entry.count;
      node = child;
    });
    node.entry = entry;
  }
  return root;
}

function sorted(children) {
  return [...children.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function TopicTree({ store, selected, onSelect }) {
  const [collapsed, setCollapsed] = useState(() => new Set());
  const root = buildTree(store.topics);
  const now = Date.now();
  const toggle = (path) => {
    const next = new Set(collapsed);
    if (next.has(path)) next.delete(path);
    else next.add(path);
    setCollapsed(next);
  };
  const selectedEntry = selected ? store.topics.get(selected) : undefined;
  const ctx = { collapsed, toggle, selected, onSelect, now };

  return html`
    <section class="panel tree">
      <h2>Topics <span class="muted">${count(store.topics.size)}</span></h2>
      <div class="tree-body">
        <ul class="topic-tree" data-testid="topic-tree">
          ${store.topics.size === 0 && html`<li class="muted">Messages from the page's subscriptions appear here.</li>`}
          ${sorted(root.children).map((child) => html`<${Node} key=${child.name} node=${child} depth=${0} ctx=${ctx} />`)}
        </ul>
        ${selectedEntry && html`<${TopicDetail} entry=${selectedEntry} onClose=${() => onSelect(undefined)} />`}
      </div>
    </section>
  `;
}

function Node({ node, depth, ctx }) {
  const { collapsed, toggle, selected, onSelect, now } = ctx;
  const open = !collapsed.has(node.path);
  const entry = node.entry;
  const hasChildren = node.children.size > 0;
  return html`
    <li>
      <div
        class=${`node${entry ? ' has-message' : ''}${selected === node.path && entry ? ' selected' : ''}`}
        style=${`padding-left: ${depth * 14 + 4}px`}
        data-testid="topic-node"
        data-topic=${node.path}
        onClick=${() => (entry ? onSelect(node.path) : toggle(node.path))}
      >
        <span
          class="caret"
          onClick=${(e) => {
            e.stopPropagation();
            if (hasChildren) toggle(node.path);
          }}
          >${hasChildren ? (open ? '▾' : '▸') : ''}</span
        >
        <span class="name">${node.name === '' ? html`<em>(empty)</em>` : node.name}</span>
        ${entry && entry.last.retain && html`<span class="badge" data-testid="topic-retained" title="Last message was retained">R</span>`}
        ${entry && html`<span class="payload" data-testid="topic-payload" title=${entry.last.payload}>${oneLine(entry.last.payload)}</span>`}
        <span class="spacer"></span>
        ${entry && html`<span class="muted rate" data-testid="topic-rate">${rate(entry.meter.perSecond(now))}</span>`}
        <span class="count" data-testid="topic-count" title=${entry ? 'messages on this topic' : 'messages below this level'}
          >${count(entry ? entry.count : node.total)}</span
        >
      </div>
      ${
        hasChildren &&
        open &&
        html`<ul>
          ${sorted(node.children).map((child) => html`<${Node} key=${child.name} node=${child} depth=${depth + 1} ctx=${ctx} />`)}
        </ul>`
      }
    </li>
  `;
}

function TopicDetail({ entry, onClose }) {
  const last = entry.last;
  return html`
    <div class="detail" data-testid="topic-detail" data-topic=${entry.topic}>
      <div class="detail-head">
        <code class="grow">${entry.topic}</code>
        <button type="button" class="small" onClick=${onClose} title="Close">✕</button>
      </div>
      <div class="muted small-text">
        ${last.encoding} · ${bytes(last.size)}${last.truncated ? ' (cut)' : ''} · QoS ${last.qos}${last.retain ? ' · retained' : ''} · ${clock(last.at)} ·
        ${count(entry.count)} messages
      </div>
      <pre data-testid="topic-detail-payload">${last.payload}</pre>
    </div>
  `;
}
