/**
 * The links as a picture: every component and provider on a circle, every link an arrow labelled with
 * its interface. Built from SVG elements like any other view, so ids stay text.
 */
import type { Link } from '@cirrus/protocol';
import { linkInterface, shortId } from '../format.ts';

export type NodeKind = 'component' | 'provider' | 'unknown';

interface Point {
  x: number;
  y: number;
}

const NODE_RADIUS = 9;
/** Room around the circle for the node labels, which sit outside it. */
const MARGIN = 120;
/** How far apart links between the same two nodes bend, so their labels do not overlap. */
const BEND = 50;

function layout(ids: string[]): { points: Map<string, Point>; radius: number } {
  const radius = Math.max(110, ids.length * 26);
  const points = new Map<string, Point>();
  ids.forEach((id, index) => {
    if (ids.length === 1) {
      points.set(id, { x: 0, y: 0 });
      return;
    }
    const angle = (2 * Math.PI * index) / ids.length - Math.PI / 2;
    points.set(id, { x: radius * Math.cos(angle), y: radius * Math.sin(angle) });
  });
  return { points, radius };
}

function Edge(props: { link: Link; from: Point; to: Point; offset: number }) {
  const { from, to, offset, link } = props;
  const label = linkInterface(link);
  if (from === to) {
    // A component linked to itself: a small loop outside the circle.
    const length = Math.hypot(from.x, from.y) || 1;
    const ux = from.x / length;
    const uy = from.y / length;
    const cx = from.x + ux * 28;
    const cy = from.y + uy * 28;
    return (
      <g class="edge">
        <circle cx={cx} cy={cy} r={18} class="edge-line" />
        <text x={cx + ux * 24} y={cy + uy * 24} class="edge-label" text-anchor="middle">
          {label}
        </text>
      </g>
    );
  }
  const dx = to.x - from.x;
  const dy = to.y - from.y;
  const length = Math.hypot(dx, dy);
  const ux = dx / length;
  const uy = dy / length;
  // Stop short of the nodes so the arrowhead is not hidden under the target circle.
  const start = { x: from.x + ux * NODE_RADIUS, y: from.y + uy * NODE_RADIUS };
  const end = { x: to.x - ux * (NODE_RADIUS + 4), y: to.y - uy * (NODE_RADIUS + 4) };
  const control = { x: (start.x + end.x) / 2 - uy * offset, y: (start.y + end.y) / 2 + ux * offset };
  const labelAt = {
    x: 0.25 * start.x + 0.5 * control.x + 0.25 * end.x,
    y: 0.25 * start.y + 0.5 * control.y + 0.25 * end.y,
  };
  return (
    <g class="edge">
      <path
        d={`M ${start.x} ${start.y} Q ${control.x} ${control.y} ${end.x} ${end.y}`}
        class="edge-line"
        marker-end="url(#arrow)"
      />
      <text x={labelAt.x} y={labelAt.y - 4} class="edge-label" text-anchor="middle">
        {label}
        {link.name !== 'default' ? ` (${link.name})` : ''}
      </text>
    </g>
  );
}

export function LinkGraph(props: { links: Link[]; kinds: Map<string, NodeKind> }) {
  const ids = [
    ...new Set([...props.kinds.keys(), ...props.links.flatMap((l) => [l.source_id, l.target])]),
  ].sort((a, b) => a.localeCompare(b));
  if (ids.length === 0) return null;
  const { points, radius } = layout(ids);
  const half = radius + MARGIN;

  // Links between the same two nodes (either way round) share a straight line unless bent apart.
  const pairs = new Map<string, number>();
  const seen = new Map<string, number>();
  const pairKey = (link: Link) => [link.source_id, link.target].sort().join('\u0000');
  for (const link of props.links) pairs.set(pairKey(link), (pairs.get(pairKey(link)) ?? 0) + 1);

  return (
    <figure class="graph">
      <svg
        viewBox={`${-half} ${-half} ${2 * half} ${2 * half}`}
        role="img"
        aria-labelledby="link-graph-title"
        class="graph-svg"
      >
        <title id="link-graph-title">
          Link graph: {ids.length} node(s), {props.links.length} link(s)
        </title>
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" class="arrow-head" />
          </marker>
        </defs>
        {props.links.map((link, index) => {
          const from = points.get(link.source_id);
          const to = points.get(link.target);
          if (from === undefined || to === undefined) return null;
          const key = pairKey(link);
          const count = pairs.get(key) ?? 1;
          const nth = seen.get(key) ?? 0;
          seen.set(key, nth + 1);
          // Bend relative to one fixed direction per pair, so A→B and B→A separate too.
          const flip = link.source_id <= link.target ? 1 : -1;
          const offset = (nth - (count - 1) / 2) * BEND * flip;
          return <Edge key={index} link={link} from={from} to={to} offset={offset} />;
        })}
        {ids.map((id) => {
          const point = points.get(id) ?? { x: 0, y: 0 };
          const kind = props.kinds.get(id) ?? 'unknown';
          const outward = Math.hypot(point.x, point.y);
          // Labels sit outside the circle; a lone node in the middle has its label underneath.
          const labelX = outward === 0 ? 0 : point.x + (point.x / outward) * (NODE_RADIUS + 6);
          const labelY = outward === 0 ? NODE_RADIUS + 10 : point.y + (point.y / outward) * (NODE_RADIUS + 6);
          const anchor = Math.abs(point.x) < 1 ? 'middle' : point.x > 0 ? 'start' : 'end';
          return (
            <g key={id} class={`node node-${kind}`}>
              <title>
                {kind}: {id}
              </title>
              <circle cx={point.x} cy={point.y} r={NODE_RADIUS} />
              <text x={labelX} y={labelY + 4} text-anchor={anchor} class="node-label">
                {shortId(id)}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span class="legend legend-component">component</span>{' '}
        <span class="legend legend-provider">provider</span>{' '}
        <span class="legend legend-unknown">not running</span>
      </figcaption>
    </figure>
  );
}
