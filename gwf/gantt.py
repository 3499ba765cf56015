"""A self-contained HTML Gantt chart of a plan, readable at 1,000 cells: one heat strip per pool
(share of its cells busy over time), click a pool to open its cells, wheel to zoom, drag to
pan, hover for the operation. No CDN (floors run offline): inline JS on a canvas, data as
compact arrays so 70k assignments stay a few MB."""
from __future__ import annotations

import html
import json
from pathlib import Path

from scheduler.problem import Problem
from scheduler.schedule import Schedule


def gantt_data(problem: Problem, schedule: Schedule) -> dict:
    """Columnar arrays: each assignment is 5 integers (cell, job, op, start, end) into the
    cell, job and op name tables."""
    cell_index = {c.id: i for i, c in enumerate(problem.cells)}
    jobs: dict[str, int] = {}
    ops: dict[str, int] = {}
    flat: list[int] = []
    for a in schedule.assignments:
        flat += [cell_index[a.cell], jobs.setdefault(a.job, len(jobs)), ops.setdefault(a.op, len(ops)), a.start, a.end]
    product_of = {job.id: job.product or job.family for job in problem.jobs}
    products = sorted({product_of.get(j, "") for j in jobs})
    return {
        "name": schedule.name,
        "horizon": problem.horizon,
        "pools": [[p.name, p.cells] for p in problem.pools],
        "cells": [[c.id, c.pool, c.capacity] for c in problem.cells],
        "windows": [[c, s, e] for c, cell in enumerate(problem.cells) for s, e in cell.unavailable],
        "jobs": list(jobs),
        "jobProduct": [products.index(product_of.get(j, "")) for j in jobs],
        "products": products,
        "ops": list(ops),
        "a": flat,
    }


def write_gantt(problem: Problem, schedule: Schedule, path: str | Path) -> None:
    data = json.dumps(gantt_data(problem, schedule), separators=(",", ":"))
    title = html.escape(f"{schedule.name}: {len(schedule.assignments):,} operations on {len(problem.cells):,} cells")
    Path(path).write_text(_PAGE.replace("__TITLE__", title).replace("__DATA__", data.replace("</", "<\\/")))


_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body{font:13px system-ui,sans-serif;margin:0;background:#fafafa;color:#222}
header{padding:8px 12px;background:#1f2937;color:#fff;display:flex;gap:16px;align-items:center}
header button{font:inherit}
#wrap{position:relative}
canvas{display:block}
#tip{position:fixed;pointer-events:none;background:#111;color:#fff;padding:4px 8px;border-radius:4px;display:none;white-space:pre;font-size:12px}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px;vertical-align:middle}
</style></head><body>
<header><b>__TITLE__</b><button id="reset">whole plan</button><button id="all">open all pools</button><span>wheel: zoom · drag: pan · click a pool: its cells</span><span class="legend" id="legend"></span></header>
<div id="wrap"><canvas id="c"></canvas></div><div id="tip"></div>
<script>
const D=__DATA__;
const LABEL=170, POOL_H=22, CELL_H=12, AXIS=22;
const cv=document.getElementById('c'), cx=cv.getContext('2d'), tip=document.getElementById('tip');
const A=D.a, n=A.length/5;
let end=D.horizon;for(let i=0;i<n;i++)if(A[i*5+4]>end)end=A[i*5+4];
let t0=0, t1=end;
const open=new Set();
const byCell=D.cells.map(()=>[]);
for(let i=0;i<n;i++) byCell[A[i*5]].push(i);
for(const l of byCell) l.sort((x,y)=>A[x*5+3]-A[y*5+3]);
const winByCell=D.cells.map(()=>[]); for(const [c,s,e] of D.windows) winByCell[c].push([s,e]);
const palette=['#2563eb','#16a34a','#d97706','#9333ea','#dc2626','#0891b2','#4d7c0f','#be185d'];
document.getElementById('legend').innerHTML=D.products.map((p,i)=>`<span style="background:${palette[i%8]}"></span>${p}`).join('');
function rows(){const r=[];D.pools.forEach((p,k)=>{r.push({pool:k});if(open.has(k))for(const c of p[1])r.push({cell:c});});return r;}
function fmt(s){const d=Math.floor(s/86400),h=Math.floor(s%86400/3600),m=Math.floor(s%3600/60);return (d?d+'d ':'')+String(h).padStart(2,'0')+':'+String(m).padStart(2,'0');}
function heat(u){u=Math.max(0,Math.min(1,u));const r=Math.round(255*Math.min(1,2*u)),g=Math.round(255*Math.min(1,2*(1-u))*0.85);return `rgb(${r},${g},60)`;}
function draw(){
  const R=rows(), W=Math.max(600,window.innerWidth), H=AXIS+R.reduce((s,r)=>s+(r.pool!==undefined?POOL_H:CELL_H),0);
  cv.width=W;cv.height=H;const pw=W-LABEL, sx=t=>LABEL+(t-t0)/(t1-t0)*pw;
  cx.fillStyle='#fff';cx.fillRect(0,0,W,H);
  // time axis
  cx.fillStyle='#333';cx.font='11px system-ui';const span=t1-t0;const steps=[60,300,900,3600,4*3600,12*3600,86400,7*86400];
  const step=steps.find(s=>span/s<12)||steps[steps.length-1];
  for(let t=Math.ceil(t0/step)*step;t<=t1;t+=step){const x=sx(t);cx.fillRect(x,0,1,H);cx.fillText(fmt(t),x+3,14);}
  cx.fillStyle='rgba(0,0,0,0.5)';cx.fillRect(sx(D.horizon),0,2,H);
  let y=AXIS;
  for(const r of R){
    if(r.pool!==undefined){
      const p=D.pools[r.pool], cells=p[1], slots=cells.reduce((s,c)=>s+D.cells[c][2],0);
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
      for(const i of byCell[c]){const a=sx(A[i*5+3]),b=sx(A[i*5+4]);if(b<LABEL||a>W)continue;cx.fillStyle=palette[D.jobProduct[A[i*5+1]]%8];cx.fillRect(Math.max(LABEL,a),y+1,Math.max(1,b-Math.max(LABEL,a)-0.5),CELL_H-2);}
      cx.globalAlpha=1;y+=CELL_H;
    }
  }
}
function rowAt(py){let y=AXIS;for(const r of rows()){const h=r.pool!==undefined?POOL_H:CELL_H;if(py>=y&&py<y+h)return r;y+=h;}return null;}
function timeAt(px){return t0+(px-LABEL)/(cv.width-LABEL)*(t1-t0);}
cv.addEventListener('wheel',e=>{e.preventDefault();const t=timeAt(e.offsetX),f=e.deltaY>0?1.25:0.8;t0=Math.max(0,t-(t-t0)*f);t1=Math.min(end,t+(t1-t)*f);if(t1-t0<60)t1=t0+60;draw();},{passive:false});
let drag=null;
cv.addEventListener('mousedown',e=>{drag={x:e.offsetX,t0,t1,moved:false};});
window.addEventListener('mouseup',e=>{if(drag&&!drag.moved){const r=rowAt(e.offsetY);if(r&&r.pool!==undefined){open.has(r.pool)?open.delete(r.pool):open.add(r.pool);draw();}}drag=null;});
cv.addEventListener('mousemove',e=>{
  if(drag){const dt=(e.offsetX-drag.x)/(cv.width-LABEL)*(drag.t1-drag.t0);if(Math.abs(e.offsetX-drag.x)>3)drag.moved=true;let a=drag.t0-dt,b=drag.t1-dt;if(a<0){b-=a;a=0;}if(b>end){a-=b-end;b=end;}t0=Math.max(0,a);t1=b;draw();return;}
  const r=rowAt(e.offsetY),t=timeAt(e.offsetX);let text='';
  if(r&&r.cell!==undefined&&e.offsetX>LABEL){const l=byCell[r.cell];const hits=l.filter(i=>A[i*5+3]<=t&&t<A[i*5+4]);
    text=hits.slice(0,6).map(i=>`${D.jobs[A[i*5+1]]} / ${D.ops[A[i*5+2]]}\\n${fmt(A[i*5+3])} → ${fmt(A[i*5+4])}`).join('\\n')+(hits.length>6?`\\n+${hits.length-6} more`:'');}
  else if(r&&r.pool!==undefined&&e.offsetX>LABEL){const cells=D.pools[r.pool][1];let act=0,slots=0;for(const c of cells){slots+=D.cells[c][2];for(const i of byCell[c])if(A[i*5+3]<=t&&t<A[i*5+4])act++;}text=`${D.pools[r.pool][0]} at ${fmt(t)}: ${act}/${slots} busy (${Math.round(100*act/slots)}%)`;}
  if(text){tip.style.display='block';tip.textContent=text;tip.style.left=(e.clientX+12)+'px';tip.style.top=(e.clientY+12)+'px';}else tip.style.display='none';
});
cv.addEventListener('mouseleave',()=>tip.style.display='none');
document.getElementById('reset').onclick=()=>{t0=0;t1=end;draw();};
document.getElementById('all').onclick=()=>{if(open.size)open.clear();else D.pools.forEach((_,k)=>open.add(k));draw();};
window.addEventListener('resize',draw);
draw();
</script></body></html>
"""
