"""A self-contained HTML Gantt chart of a plan, readable at 1,000 cells: one heat strip per pool
(share of its cells busy over time), click a pool to open its cells, wheel to zoom, drag to
pan, hover for the operation, real dates from the plan's start, a legend, and the critical
chain of every late or open unit. No CDN (floors run offline): inline JS on a canvas, data as
compact arrays so 70k assignments stay a few MB.

Every name in the page comes from a spec or plan file somebody else wrote: the data block is
JSON with <, > and & escaped, and the script writes names only through textContent or the
canvas, never innerHTML."""
from __future__ import annotations

import html
import json
from datetime import datetime, timedelta
from pathlib import Path

from scheduler.problem import Problem
from scheduler.schedule import Schedule

# Okabe & Ito's colour-blind-safe palette for products; the pool heat strips use a purple
# ramp, which no product colour shares, so a busy pool never reads as a product.
PRODUCT_COLOURS = ["#0072B2", "#009E73", "#E69F00", "#56B4E9", "#D55E00", "#CC79A7", "#F0E442", "#000000"]
HEAT_IDLE, HEAT_FULL = (243, 240, 247), (63, 0, 125)


def gantt_data(problem: Problem, schedule: Schedule, start: datetime | None = None, why: list | None = None) -> dict:
    """Columnar arrays: each assignment is 5 integers (cell, job, op, start, end) into the
    cell, job and op name tables; `why` is one entry per late or open unit."""
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    jobs: dict[str, int] = {}
    ops: dict[str, int] = {}
    flat: list[int] = []
    for a in schedule.assignments:
        flat += [cell_index[a.cell], jobs.setdefault(a.job, len(jobs)), ops.setdefault(a.op, len(ops)), a.start, a.end]
    product_of = {job.id: job.product or job.family for job in problem.jobs}
    products = sorted({product_of.get(j, "") for j in jobs})
    offset = start.utcoffset() if start is not None else None
    return {
        "name": schedule.name,
        "horizon": problem.horizon,
        "startMs": int(start.timestamp() * 1000) if start is not None else None,
        "tzMin": int(offset.total_seconds() // 60) if offset is not None else 0,
        "pools": [[p.name, p.cells] for p in problem.pools],
        "cells": [[c.id, c.pool, c.capacity] for c in problem.cells],
        "windows": [[c, s, e] for c, cell in enumerate(problem.cells) for s, e in cell.unavailable],
        "jobs": list(jobs),
        "jobProduct": [products.index(product_of.get(j, "")) for j in jobs],
        "products": products,
        "colours": PRODUCT_COLOURS,
        "heat": [list(HEAT_IDLE), list(HEAT_FULL)],
        "ops": list(ops),
        "a": flat,
        "why": why or [],
    }


def why_entries(problem: Problem, schedule: Schedule, at, limit: int = 2000) -> list:
    """[unit, state, summary, [[cell index, start, end, line], ...]] for each late or open unit."""
    from gwf.plans.why import describe, explain_all

    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    out = []
    for e in explain_all(problem, schedule, limit=limit):
        u = e.unit
        if e.state == "late":
            summary = f"late by {u.lateness_s / 3600:.1f} h (due {at(u.due)}, finished {at(u.finish)})"
        else:
            summary = "still open at the horizon: " + (f"{len(e.unplanned)} operations not planned" if e.unplanned else
                                                         f"{len(e.past_horizon)} operations end after it")
        out.append([u.id, e.state, summary, [[cell_index[link.cell], link.start, link.end, describe(link, at)] for link in e.chain]])
    return out


def write_gantt(problem: Problem, schedule: Schedule, path: str | Path, start: datetime | None = None) -> None:
    def at(seconds: float) -> str:
        if start is None:
            return f"{seconds / 3600:.1f} h"
        return (start + timedelta(seconds=seconds)).strftime("%a %d %b %H:%M")

    data = gantt_data(problem, schedule, start, why_entries(problem, schedule, at))
    text = json.dumps(data, separators=(",", ":"))
    # Inside <script> a name holding "</script>" or "<!--" would end or bend the block: keep
    # the JSON free of <, > and & (the \u escapes read back as the same characters).
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = html.escape(f"{schedule.name}: {len(schedule.assignments):,} operations on {len(problem.cells):,} cells")
    Path(path).write_text(_PAGE.replace("__TITLE__", title).replace("__DATA__", text), encoding="utf-8")


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px system-ui,sans-serif;margin:0;background:#fafafa;color:#222}
header{padding:8px 12px;background:#1f2937;color:#fff;display:flex;gap:12px;align-items:center;flex-wrap:wrap}
header button,header select{font:inherit}
#legend{padding:6px 12px;background:#fff;border-bottom:1px solid #ddd;display:flex;gap:14px;flex-wrap:wrap;align-items:center}
#legend .item{display:inline-flex;align-items:center;gap:5px}
#legend .sw{display:inline-block;width:12px;height:12px;border:1px solid rgba(0,0,0,.2)}
#legend .ramp{display:inline-block;width:90px;height:12px;border:1px solid rgba(0,0,0,.2)}
#range{padding:4px 12px;color:#444}
#wrap{position:relative}
canvas{display:block}
#tip{position:fixed;pointer-events:none;background:#111;color:#fff;padding:4px 8px;border-radius:4px;display:none;white-space:pre;font-size:12px}
#why{position:fixed;right:12px;bottom:12px;max-width:640px;max-height:45vh;overflow:auto;background:#fff;border:1px solid #999;box-shadow:0 2px 8px rgba(0,0,0,.2);padding:8px 12px;display:none}
#why ol{margin:4px 0 0 18px;padding:0}
</style></head><body>
<header><b>__TITLE__</b><button id="reset">whole plan</button><button id="all">open all pools</button><button id="none">close all pools</button>
<select id="unit"><option value="">why is a unit late or open?</option></select><span>wheel: zoom · drag: pan · click a pool: its cells</span></header>
<div id="legend"></div><div id="range"></div>
<div id="wrap"><canvas id="c"></canvas></div><div id="tip"></div><div id="why"><button id="why-close" style="float:right">close</button><b id="why-title"></b><div id="why-summary"></div><ol id="why-chain"></ol></div>
<script>
const D=__DATA__;
const LABEL=170, POOL_H=22, CELL_H=12, AXIS=22;
const cv=document.getElementById('c'), cx=cv.getContext('2d'), tip=document.getElementById('tip');
const A=D.a, n=A.length/5, P=D.colours;
let end=D.horizon;for(let i=0;i<n;i++)if(A[i*5+4]>end)end=A[i*5+4];
let t0=0, t1=end, chain=null;
const open=new Set();
const byCell=D.cells.map(()=>[]);
for(let i=0;i<n;i++) byCell[A[i*5]].push(i);
for(const l of byCell) l.sort((x,y)=>A[x*5+3]-A[y*5+3]);
const winByCell=D.cells.map(()=>[]); for(const [c,s,e] of D.windows) winByCell[c].push([s,e]);
function el(tag,cls,text){const e=document.createElement(tag);if(cls)e.className=cls;if(text!==undefined)e.textContent=text;return e;}
function heat(u){u=Math.max(0,Math.min(1,u));const [a,b]=D.heat;return 'rgb('+a.map((v,k)=>Math.round(v+(b[k]-v)*u)).join(',')+')';}
// Legend: built from DOM nodes with textContent, so a product's name can never become markup.
(function legend(){
  const L=document.getElementById('legend');
  D.products.forEach((p,i)=>{const it=el('span','item');const sw=el('span','sw');sw.style.background=P[i%P.length];it.append(sw,el('span','',p));L.append(it);});
  const r=el('span','item');const ramp=el('span','ramp');ramp.style.background='linear-gradient(90deg,'+heat(0)+','+heat(1)+')';
  r.append(el('span','','pool busy: 0%'),ramp,el('span','','100%'));L.append(r);
  const w=el('span','item');const ws=el('span','sw');ws.style.background='rgba(120,120,120,0.35)';w.append(ws,el('span','','planned window'));L.append(w);
  const h=el('span','item');const hs=el('span','sw');hs.style.background='rgba(0,0,0,0.6)';hs.style.width='3px';h.append(hs,el('span','','horizon end'));L.append(h);
  const c=el('span','item');const cs=el('span','sw');cs.style.border='2px solid #e11d48';cs.style.background='transparent';c.append(cs,el('span','','critical chain'));L.append(c);
})();
const SEL=document.getElementById('unit');
D.why.forEach((w,k)=>{SEL.append(el('option','',w[0]+' — '+w[1]));SEL.lastChild.value=String(k);});
if(!D.why.length){SEL.firstChild.textContent='no late or open units';SEL.disabled=true;}
const DAYS=['Sun','Mon','Tue','Wed','Thu','Fri','Sat'], MON=['Jan','Feb','Mar','Apr','May','Jun','Jul','Aug','Sep','Oct','Nov','Dec'];
const pad=v=>String(v).padStart(2,'0');
const BASE=D.startMs===null?0:D.startMs/1000+D.tzMin*60;  // plan second 0 in the plan's local clock
function parts(s){const d=new Date((BASE+s)*1000);return d;}
function zone(){if(D.startMs===null)return '';const m=Math.abs(D.tzMin);return 'UTC'+(D.tzMin<0?'-':'+')+pad(Math.floor(m/60))+':'+pad(m%60);}
function fmtDay(s){const d=parts(s);return DAYS[d.getUTCDay()]+' '+pad(d.getUTCDate())+' '+MON[d.getUTCMonth()];}
function fmtClock(s){const d=parts(s);return pad(d.getUTCHours())+':'+pad(d.getUTCMinutes());}
function fmt(s){if(D.startMs===null){const d=Math.floor(s/86400),h=Math.floor(s%86400/3600),m=Math.floor(s%3600/60);return (d?d+'d ':'')+pad(h)+':'+pad(m);}
  const d=parts(s);return d.getUTCFullYear()+'-'+pad(d.getUTCMonth()+1)+'-'+pad(d.getUTCDate())+' '+fmtClock(s);}
function rows(){const r=[];D.pools.forEach((p,k)=>{r.push({pool:k});if(open.has(k))for(const c of p[1])r.push({cell:c});});return r;}
function draw(){
  const R=rows(), W=Math.max(600,window.innerWidth), H=AXIS+R.reduce((s,r)=>s+(r.pool!==undefined?POOL_H:CELL_H),0);
  cv.width=W;cv.height=H;const pw=W-LABEL, sx=t=>LABEL+(t-t0)/(t1-t0)*pw;
  cx.fillStyle='#fff';cx.fillRect(0,0,W,H);
  document.getElementById('range').textContent='showing '+fmt(t0)+' → '+fmt(t1)+(zone()?' ('+zone()+')':'')+'; plan horizon ends '+fmt(D.horizon);
  // time axis on the plan's local clock: ticks at whole hours/days of that clock
  cx.fillStyle='#333';cx.font='11px system-ui';const span=t1-t0;const steps=[60,300,900,3600,4*3600,12*3600,86400,7*86400];
  const step=steps.find(s=>span/s<10)||steps[steps.length-1];const labels=[];
  for(let t=Math.ceil((t0+BASE)/step)*step-BASE;t<=t1;t+=step){const x=sx(t);cx.fillStyle='#ddd';cx.fillRect(x,AXIS,1,H);cx.fillStyle='#333';
    const local=((t+BASE)%86400+86400)%86400, lab=D.startMs===null?fmt(t):(step>=86400||local===0?fmtDay(t)+(step<86400?' '+fmtClock(t):''):fmtClock(t));
    labels.push(lab);cx.fillText(lab,x+3,14);}
  cv.dataset.ticks=labels.join('|');
  cx.fillStyle='rgba(0,0,0,0.6)';cx.fillRect(sx(D.horizon),0,2,H);
  let y=AXIS;
  for(const r of R){
    if(r.pool!==undefined){
      const p=D.pools[r.pool], cells=p[1], slots=Math.max(1,cells.reduce((s,c)=>s+D.cells[c][2],0));
      // utilisation per pixel: active assignments at the pixel's time / slots (difference array)
      const diff=new Float64Array(pw+2);
      for(const c of cells)for(const i of byCell[c]){const a=Math.max(0,Math.ceil(sx(A[i*5+3])-LABEL)),b=Math.min(pw,Math.ceil(sx(A[i*5+4])-LABEL));if(b>a){diff[a]+=1;diff[b]-=1;}}
      let act=0;for(let x=0;x<pw;x++){act+=diff[x];cx.fillStyle=heat(act/slots);cx.fillRect(LABEL+x,y+1,1,POOL_H-2);}
      cx.fillStyle='#eee';cx.fillRect(0,y,LABEL,POOL_H);cx.fillStyle='#111';cx.font='12px system-ui';
      cx.fillText((open.has(r.pool)?'▾ ':'▸ ')+p[0]+' ('+cells.length+')',4,y+15);y+=POOL_H;
    } else {
      const c=r.cell;cx.fillStyle='#f7f7f7';cx.fillRect(0,y,LABEL,CELL_H);cx.fillStyle='#555';cx.font='10px system-ui';cx.fillText(D.cells[c][0],14,y+10);
      cx.fillStyle='rgba(120,120,120,0.35)';for(const [s,e] of winByCell[c]){const a=sx(s),b=sx(e);if(b>=LABEL&&a<=W)cx.fillRect(Math.max(LABEL,a),y,b-Math.max(LABEL,a),CELL_H);}
      const cap=D.cells[c][2];cx.globalAlpha=cap>1?Math.max(0.08,1/cap*2):1;
      for(const i of byCell[c]){const a=sx(A[i*5+3]),b=sx(A[i*5+4]);if(b<LABEL||a>W)continue;cx.fillStyle=P[D.jobProduct[A[i*5+1]]%P.length];cx.fillRect(Math.max(LABEL,a),y+1,Math.max(1,b-Math.max(LABEL,a)-0.5),CELL_H-2);}
      cx.globalAlpha=1;
      if(chain){cx.strokeStyle='#e11d48';cx.lineWidth=2;for(const [cc,s,e] of chain[3])if(cc===c){const a=sx(s),b=sx(e);cx.strokeRect(Math.max(LABEL,a),y,Math.max(3,b-Math.max(LABEL,a)),CELL_H);}}
      y+=CELL_H;
    }
  }
}
function rowAt(py){let y=AXIS;for(const r of rows()){const h=r.pool!==undefined?POOL_H:CELL_H;if(py>=y&&py<y+h)return r;y+=h;}return null;}
function timeAt(px){return t0+(px-LABEL)/(cv.width-LABEL)*(t1-t0);}
cv.addEventListener('wheel',e=>{e.preventDefault();const t=timeAt(e.offsetX),f=e.deltaY>0?1.25:0.8;t0=Math.max(0,t-(t-t0)*f);t1=Math.min(end,t+(t1-t)*f);if(t1-t0<60)t1=t0+60;draw();},{passive:false});
let drag=null;
cv.addEventListener('mousedown',e=>{drag={x:e.offsetX,t0,t1,moved:false};});
window.addEventListener('mouseup',e=>{if(drag&&!drag.moved&&e.target===cv){const r=rowAt(e.offsetY);if(r&&r.pool!==undefined){open.has(r.pool)?open.delete(r.pool):open.add(r.pool);draw();}}drag=null;});
cv.addEventListener('mousemove',e=>{
  if(drag){const dt=(e.offsetX-drag.x)/(cv.width-LABEL)*(drag.t1-drag.t0);if(Math.abs(e.offsetX-drag.x)>3)drag.moved=true;let a=drag.t0-dt,b=drag.t1-dt;if(a<0){b-=a;a=0;}if(b>end){a-=b-end;b=end;}t0=Math.max(0,a);t1=b;draw();return;}
  const r=rowAt(e.offsetY),t=timeAt(e.offsetX);let text='';
  if(r&&r.cell!==undefined&&e.offsetX>LABEL){const l=byCell[r.cell];const hits=l.filter(i=>A[i*5+3]<=t&&t<A[i*5+4]);
    text=hits.slice(0,6).map(i=>D.jobs[A[i*5+1]]+' / '+D.ops[A[i*5+2]]+'\\n'+fmt(A[i*5+3])+' → '+fmt(A[i*5+4])).join('\\n')+(hits.length>6?'\\n+'+(hits.length-6)+' more':'');}
  else if(r&&r.pool!==undefined&&e.offsetX>LABEL){const cells=D.pools[r.pool][1];let act=0,slots=0;for(const c of cells){slots+=D.cells[c][2];for(const i of byCell[c])if(A[i*5+3]<=t&&t<A[i*5+4])act++;}text=D.pools[r.pool][0]+' at '+fmt(t)+': '+act+'/'+slots+' busy ('+Math.round(100*act/Math.max(1,slots))+'%)';}
  if(text){tip.style.display='block';tip.textContent=text;tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';}else tip.style.display='none';
});
cv.addEventListener('mouseleave',()=>tip.style.display='none');
document.getElementById('reset').onclick=()=>{t0=0;t1=end;draw();};
// Two buttons that each do what they say (one toggle button said "open" while it closed).
document.getElementById('all').onclick=()=>{D.pools.forEach((_,k)=>open.add(k));draw();};
document.getElementById('none').onclick=()=>{open.clear();draw();};
SEL.onchange=()=>{
  const box=document.getElementById('why'), list=document.getElementById('why-chain');list.replaceChildren();
  if(SEL.value===''){chain=null;box.style.display='none';draw();return;}
  chain=D.why[Number(SEL.value)];
  document.getElementById('why-title').textContent=chain[0]+': '+chain[1];
  document.getElementById('why-summary').textContent=chain[2]+(chain[3].length?'. Its critical chain, latest first:':'. Nothing of it is planned.');
  for(const link of chain[3])list.append(el('li','',link[3]));
  box.style.display='block';
  if(chain[3].length){for(const link of chain[3])open.add(D.cells[link[0]][1]);const s=Math.min(...chain[3].map(l=>l[1])),e=Math.max(...chain[3].map(l=>l[2]));const m=Math.max(600,(e-s)*0.1);t0=Math.max(0,s-m);t1=Math.min(end,e+m);}
  draw();
};
document.getElementById('why-close').onclick=()=>{SEL.value='';SEL.onchange();};
window.addEventListener('resize',draw);
draw();
</script></body></html>
"""
