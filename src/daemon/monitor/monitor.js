// doswarm Activity Monitor: polls the daemon's control API (GET /v1/stats,
// GET /v1/jobs; shapes in src/daemon/api-types.ts) once a second and updates
// the page in place. Plain browser JS, no build step; charts by chart.js.
// The access token comes from the address's fragment (#token=…), which the
// browser never sends to a server, and goes out only in the Authorization header.
'use strict'

;(() => {
  const POLL_MS = 1000
  const $ = (id) => document.getElementById(id)
  const css = getComputedStyle(document.documentElement)
  const color = (name) => css.getPropertyValue(name).trim()
  const COLORS = { http: color('--http'), peers: color('--peers'), up: color('--up'), other: color('--other') }
  const MODES = { 'http-only': 'HTTP only', lan: 'LAN', group: 'Group' }
  const STATE_ORDER = { downloading: 0, queued: 1, paused: 2, failed: 3, complete: 4, cancelled: 5 }

  // ---- formatting -------------------------------------------------------
  function fmtBytes (n) {
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) return '–'
    if (n < 1024) return `${n} B`
    const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB']
    let v = n / 1024
    let i = 0
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
    return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`
  }
  function fmtDuration (ms) {
    const s = Math.floor(Math.max(0, ms) / 1000)
    const d = Math.floor(s / 86400)
    const h = Math.floor(s / 3600) % 24
    const m = Math.floor(s / 60) % 60
    if (d > 0) return `${d} d ${h} h`
    if (h > 0) return `${h} h ${m} min`
    if (m > 0) return `${m} min ${s % 60} s`
    return `${s} s`
  }
  const fmtPercent = (p) => `${p.toFixed(1)} %`
  const shortId = (id) => (id.length > 18 ? `${id.slice(0, 8)}…${id.slice(-6)}` : id)
  const bytesTick = () => ({ callback: (v) => fmtBytes(Number(v)).replace(/\.0+ /, ' '), maxRotation: 0 })
  const bytesTooltip = { callbacks: { label: (c) => `${c.dataset.label || c.label}: ${fmtBytes(c.raw)}` } }

  // ---- DOM helpers: only touch what changed (no flicker) -----------------
  function setText (el, text) { if (el.textContent !== text) el.textContent = text }
  function setAttr (el, name, value) { if (el.getAttribute(name) !== String(value)) el.setAttribute(name, String(value)) }
  // through CSSOM, not a style attribute, so a CSP without 'unsafe-inline' allows it
  function setWidth (el, pct) { const w = `${pct.toFixed(2)}%`; if (el.lastWidth !== w) { el.lastWidth = w; el.style.width = w } }
  function setBytes (el, n) { setText(el, fmtBytes(n)); setAttr(el, 'data-bytes', n) }
  function setCount (el, n) { setText(el, String(n)); setAttr(el, 'data-value', n) }
  function cell (tr, testid) { return tr.querySelector(`[data-testid="${testid}"]`) }
  /** Put `rows` (keyed DOM rows) into `tbody` in order, dropping the rest; `empty` shows when there are none. */
  function placeRows (tbody, rows, empty) {
    empty.hidden = rows.length > 0
    rows.forEach((row, i) => { if (tbody.children[i + 1] !== row) tbody.insertBefore(row, tbody.children[i + 1] || null) })
    while (tbody.children.length > rows.length + 1) tbody.lastElementChild.remove()
  }

  // ---- status and errors --------------------------------------------------
  function setStatus (state, text) {
    const el = $('status')
    setAttr(el, 'data-state', state)
    setText(el, text)
    document.body.dataset.state = state
  }
  function showError (kind, text) {
    const el = $('error')
    setAttr(el, 'data-kind', kind)
    setText(el, text)
    el.hidden = false
    $('content').hidden = kind === 'missing-token' || kind === 'unauthorized'
  }
  function clearError () { $('error').hidden = true; $('content').hidden = false }

  // ---- charts -----------------------------------------------------------
  let charts = null
  function makeCharts () {
    Chart.defaults.animation = false
    Chart.defaults.responsive = true
    Chart.defaults.maintainAspectRatio = false
    Chart.defaults.font.family = css.getPropertyValue('--font').trim() || Chart.defaults.font.family
    Chart.defaults.color = color('--ink-2')
    const bar = (label, c, stack) => ({ label, data: [], backgroundColor: c, stack, borderRadius: 2, maxBarThickness: 28 })
    return {
      month: new Chart($('chart-month'), {
        type: 'doughnut',
        data: { labels: ['HTTP origin', 'Peers'], datasets: [{ data: [0, 0], backgroundColor: [COLORS.http, COLORS.peers], borderWidth: 1 }] },
        options: { cutout: '66%', plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => `${c.label}: ${fmtBytes(c.raw)}` } } } }
      }),
      transfer: new Chart($('chart-month-transfer'), {
        type: 'bar',
        data: {
          labels: ['Downloaded', 'Uploaded'],
          datasets: [bar('From HTTP origin', COLORS.http, 'a'), bar('From peers', COLORS.peers, 'a'), bar('To peers', COLORS.up, 'a')]
        },
        options: {
          indexAxis: 'y',
          scales: { x: { stacked: true, ticks: bytesTick(), beginAtZero: true }, y: { stacked: true, grid: { display: false } } },
          plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } }, tooltip: bytesTooltip }
        }
      }),
      days: new Chart($('chart-days'), {
        type: 'bar',
        data: {
          labels: [],
          datasets: [bar('From HTTP origin', COLORS.http, 'down'), bar('From peers', COLORS.peers, 'down'), bar('Uploaded to peers', COLORS.up, 'up')]
        },
        options: {
          scales: { x: { stacked: true, grid: { display: false } }, y: { stacked: true, ticks: bytesTick(), beginAtZero: true } },
          plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } }, tooltip: bytesTooltip }
        }
      }),
      peers: new Chart($('chart-peers'), {
        type: 'bar',
        data: { labels: [], datasets: [bar('Received from', COLORS.peers), bar('Sent to', COLORS.up)] },
        options: {
          indexAxis: 'y',
          scales: { x: { ticks: bytesTick(), beginAtZero: true }, y: { grid: { display: false } } },
          plugins: { legend: { position: 'bottom', labels: { boxWidth: 12 } }, tooltip: bytesTooltip }
        }
      })
    }
  }
  /** Round steps in binary units (e.g. 2 GiB, 256 MiB) for a byte axis whose largest bar is `max`. */
  function byteSteps (max) {
    if (!(max > 0)) return { stepSize: undefined, max: undefined }
    let unit = 1
    while (max / unit >= 1024) unit *= 1024
    const rough = max / unit / 4
    const step = ([0.125, 0.25, 0.5, 1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 250, 256, 500, 512, 1024].find((x) => x >= rough) || 1024) * unit
    return { stepSize: step, max: Math.ceil(max / step) * step }
  }
  /** New data for `chart`, redrawn in place without animation; `axis` is its byte scale, `top` the largest bar. */
  function setData (chart, labels, series, axis, top) {
    if (labels) chart.data.labels = labels
    series.forEach((data, i) => { chart.data.datasets[i].data = data })
    if (axis) {
      const { stepSize, max } = byteSteps(top)
      chart.options.scales[axis].ticks.stepSize = stepSize
      chart.options.scales[axis].max = max
    }
    chart.update('none')
  }

  /** "YYYY-MM" → ["YYYY-MM-01", …] for every day of that month; null if unparsable. */
  function monthDays (id) {
    const m = /^(\d{4})-(\d{2})$/.exec(id || '')
    if (!m) return null
    const n = new Date(Date.UTC(Number(m[1]), Number(m[2]), 0)).getUTCDate()
    return Array.from({ length: n }, (_, i) => `${id}-${String(i + 1).padStart(2, '0')}`)
  }
  function monthName (id) {
    const m = /^(\d{4})-(\d{2})$/.exec(id || '')
    if (!m) return id || ''
    return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, 1)).toLocaleString('en', { month: 'long', year: 'numeric', timeZone: 'UTC' })
  }

  // ---- rendering ----------------------------------------------------------
  function renderStats (s) {
    setText($('peer-id'), s.peerId || 'none (HTTP only)')
    setAttr($('peer-id'), 'title', s.peerId || '')
    setText($('mode'), MODES[s.mode] || s.mode)
    setAttr($('mode'), 'data-value', s.mode)
    setText($('uptime'), fmtDuration(s.uptimeMs))
    setAttr($('uptime'), 'data-ms', s.uptimeMs)
    setCount($('connections'), s.connections)
    setText($('cache'), `${fmtBytes(s.cache.bytes)}${s.cache.maxBytes > 0 ? ` of ${fmtBytes(s.cache.maxBytes)}` : ''} · ${s.cache.entries} files`)

    const mo = s.month
    setText($('month-id'), monthName(mo.id))
    setAttr($('month-id'), 'data-value', mo.id)
    setBytes($('month-from-http'), mo.bytesFromHttp)
    setBytes($('month-from-peers'), mo.bytesFromPeers)
    setBytes($('month-downloaded'), mo.bytesFromHttp + mo.bytesFromPeers)
    setBytes($('month-to-peers'), mo.bytesToPeers)
    setCount($('month-downloads'), mo.downloads)
    setCount($('month-pieces-rejected'), mo.piecesRejected)
    setCount($('month-peers-banned'), mo.peersBanned)
    setText($('month-percent-peer-caching'), fmtPercent(mo.percentPeerCaching))
    setAttr($('month-percent-peer-caching'), 'data-value', mo.percentPeerCaching)
    const t = s.total
    setText($('total-summary'), `Since this node was set up: ${fmtBytes(t.bytesFromHttp)} from HTTP origin, ${fmtBytes(t.bytesFromPeers)} from peers ` +
      `(${fmtPercent(t.percentPeerCaching)}), ${fmtBytes(t.bytesToPeers)} uploaded, ${t.downloads} downloads.`)

    setData(charts.month, null, [[mo.bytesFromHttp, mo.bytesFromPeers]])
    setData(charts.transfer, null, [[mo.bytesFromHttp, 0], [mo.bytesFromPeers, 0], [0, mo.bytesToPeers]], 'x',
      Math.max(mo.bytesFromHttp + mo.bytesFromPeers, mo.bytesToPeers))

    const byDay = new Map(s.days.map((d) => [d.day, d]))
    const keys = monthDays(mo.id) || s.days.map((d) => d.day)
    const pick = (k, f) => (byDay.get(k) ? byDay.get(k)[f] : 0)
    setData(charts.days, keys.map((k) => String(Number(k.slice(8)) || k)),
      ['bytesFromHttp', 'bytesFromPeers', 'bytesToPeers'].map((f) => keys.map((k) => pick(k, f))), 'y',
      Math.max(0, ...s.days.map((d) => Math.max(d.bytesFromHttp + d.bytesFromPeers, d.bytesToPeers))))

    const peers = [...s.peers].sort((a, b) => (b.received + b.sent) - (a.received + a.sent))
    const top = peers.slice(0, 10)
    setData(charts.peers, top.map((p) => shortId(p.peerId)), [top.map((p) => p.received), top.map((p) => p.sent)], 'x',
      Math.max(0, ...top.map((p) => Math.max(p.received, p.sent))))
    setText($('peers-count'), peers.length ? `(${peers.length})` : '')
    renderPeers(peers)
  }

  const peerRows = new Map()
  function renderPeers (peers) {
    const rows = peers.map((p) => {
      let tr = peerRows.get(p.peerId)
      if (!tr) {
        tr = document.createElement('tr')
        tr.setAttribute('data-testid', 'peer-row')
        tr.dataset.peerId = p.peerId
        tr.innerHTML = '<td class="mono" data-testid="peer-id"></td><td class="num" data-testid="peer-received"></td><td class="num" data-testid="peer-sent"></td>'
        const id = cell(tr, 'peer-id')
        id.textContent = shortId(p.peerId)
        id.title = p.peerId
        peerRows.set(p.peerId, tr)
      }
      setBytes(cell(tr, 'peer-received'), p.received)
      setBytes(cell(tr, 'peer-sent'), p.sent)
      return tr
    })
    const keep = new Set(peers.map((p) => p.peerId))
    for (const k of peerRows.keys()) if (!keep.has(k)) peerRows.delete(k)
    placeRows($('peers-body'), rows, $('peers-empty'))
  }

  const jobRows = new Map()
  function renderJobs (jobs) {
    const sorted = [...jobs].sort((a, b) => ((STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9)) || (b.createdAt - a.createdAt))
    const rows = sorted.map((j) => {
      let tr = jobRows.get(j.id)
      if (!tr) {
        tr = document.createElement('tr')
        tr.setAttribute('data-testid', 'job-row')
        tr.dataset.jobId = j.id
        tr.innerHTML =
          '<td><div class="job-name" data-testid="job-name"></div><div class="job-error" data-testid="job-error" hidden></div></td>' +
          '<td><span class="badge" data-testid="job-state"></span></td>' +
          '<td data-testid="job-priority"></td>' +
          '<td class="progress-col"><div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" data-testid="job-progress">' +
          '<span class="seg src-http"></span><span class="seg src-peers"></span><span class="seg src-other"></span></div>' +
          '<span class="pct" data-testid="job-percent"></span></td>' +
          '<td class="num" data-testid="job-from-http"></td><td class="num" data-testid="job-from-peers"></td>' +
          '<td class="num" data-testid="job-to-peers"></td><td class="num" data-testid="job-peers"></td>'
        jobRows.set(j.id, tr)
      }
      updateJob(tr, j)
      return tr
    })
    const keep = new Set(jobs.map((j) => j.id))
    for (const k of jobRows.keys()) if (!keep.has(k)) jobRows.delete(k)
    const active = jobs.filter((j) => j.state === 'downloading' || j.state === 'queued' || j.state === 'paused').length
    setText($('jobs-count'), jobs.length ? `(${active} active, ${jobs.length} in all)` : '')
    placeRows($('jobs-body'), rows, $('jobs-empty'))
  }

  function updateJob (tr, j) {
    const name = cell(tr, 'job-name')
    setText(name, j.name || j.contentId)
    setAttr(name, 'title', `${j.out}\ncontent ${j.contentId}`)
    const err = cell(tr, 'job-error')
    err.hidden = !j.error
    setText(err, j.error ? `${j.error.code}: ${j.error.message}` : '')
    const state = cell(tr, 'job-state')
    setText(state, j.state)
    setAttr(state, 'class', `badge state-${j.state}`)
    setText(cell(tr, 'job-priority'), j.priority)

    const size = j.size > 0 ? j.size : 0
    const done = Math.min(j.bytesDone, size)
    const raw = size > 0 ? (100 * done) / size : (j.state === 'complete' ? 100 : 0)
    const pct = Math.floor(raw * 10) / 10 // never shows 100.0 % before the last byte
    const bar = cell(tr, 'job-progress')
    setAttr(bar, 'aria-valuenow', pct)
    setAttr(bar, 'data-percent', pct)
    // split the done part by source, in proportion to the bytes each source sent
    const sent = j.bytesFromHttp + j.bytesFromPeers
    const peersPart = sent > 0 ? (raw * j.bytesFromPeers) / sent : 0
    const httpPart = sent > 0 ? raw - peersPart : 0
    const [h, p, o] = bar.children
    setWidth(h, httpPart)
    setWidth(p, peersPart)
    setWidth(o, sent > 0 ? 0 : raw)
    setAttr(bar, 'title', `${fmtBytes(done)} of ${fmtBytes(size)} · ${j.have}/${j.pieces} pieces`)
    setText(cell(tr, 'job-percent'), fmtPercent(pct))
    setBytes(cell(tr, 'job-from-http'), j.bytesFromHttp)
    setBytes(cell(tr, 'job-from-peers'), j.bytesFromPeers)
    setBytes(cell(tr, 'job-to-peers'), j.bytesToPeers)
    setCount(cell(tr, 'job-peers'), j.peers)
  }

  // ---- polling --------------------------------------------------------------
  let token = null
  let generation = 0
  let timer = null

  async function getJson (path) {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' })
    if (!res.ok) {
      let message = `HTTP ${res.status}`
      try { const body = await res.json(); if (body && body.error) message = `${body.error.code}: ${body.error.message}` } catch {}
      throw Object.assign(new Error(message), { status: res.status })
    }
    return res.json()
  }

  async function poll (gen) {
    try {
      const [stats, jobs] = await Promise.all([getJson('/v1/stats'), getJson('/v1/jobs')])
      if (gen !== generation) return
      renderStats(stats)
      renderJobs(jobs.jobs)
      clearError()
      setStatus('live', 'Live')
      setAttr($('status'), 'title', `updated ${new Date().toLocaleTimeString()}`)
    } catch (err) {
      if (gen !== generation) return
      if (err.status === 401 || err.status === 403) {
        setStatus('unauthorized', 'Token refused')
        showError('unauthorized', `The daemon refused the access token (HTTP ${err.status}). The token in this address is wrong or out of date: ` +
          'open the monitor again with the address the daemon prints (it ends in #token=…), or put the token from the daemon\'s token file after #token=.')
        return // no point retrying with the same token; a new #token=… restarts
      }
      setStatus('error', 'Daemon unreachable, retrying…')
      showError('unreachable', `Cannot read from the daemon: ${err.message}. Retrying every second.`)
    }
    timer = setTimeout(() => poll(gen), POLL_MS)
  }

  function start () {
    generation++
    clearTimeout(timer)
    token = new URLSearchParams(location.hash.slice(1)).get('token')
    if (!token) {
      setStatus('missing-token', 'No token')
      showError('missing-token', 'No access token in this address. Open the monitor with the address the daemon prints, which ends in ' +
        '#token=…; the token is in the daemon\'s token file, readable by its owner only. (The token stays in the address fragment, which is never sent to the server.)')
      return
    }
    if (typeof Chart === 'undefined') {
      setStatus('error', 'chart.js missing')
      showError('no-chartjs', 'The chart library (/vendor/chart.umd.js) did not load.')
      return
    }
    if (!charts) charts = makeCharts()
    setStatus('loading', 'Connecting…')
    poll(generation)
  }

  window.addEventListener('hashchange', start)
  start()
})()
