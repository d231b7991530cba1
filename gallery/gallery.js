// The gallery page: plain browser JavaScript served as a file (the Content-Security-Policy forbids
// inline script). Every name is rendered with textContent, never as HTML.
/* global document, sessionStorage, location, navigator, XMLHttpRequest, AbortController, TextDecoderStream */
/* eslint-disable n/no-unsupported-features/node-builtins, unicorn/prefer-query-selector -- code for the browser, not Node */

;(() => {
  const PAGE_SIZE = 100
  const TOKEN_KEY = 'iss.token'
  const $ = (id) => document.getElementById(id)

  const state = {
    session: null,
    // Images need the bearer token (anonymous read is off): thumbnails come through blob: URLs.
    viaBlobs: false,
    order: 'newest',
    filter: '',
    cursors: [undefined],
    pageIndex: 0,
    next: null,
    images: [],
    open: -1,
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY)
  const authHeaders = () => (token() ? {Authorization: `Bearer ${token()}`} : {})

  function formatSize(bytes) {
    const units = ['bytes', 'KiB', 'MiB', 'GiB']
    let value = bytes
    let unit = 0
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024
      unit++
    }
    return unit === 0 ? `${bytes} bytes` : `${value.toFixed(1)} ${units[unit]}`
  }

  function notice(text, ok = false) {
    const element = $('notice')
    element.textContent = text
    element.classList.toggle('ok', ok)
    element.hidden = text === ''
  }

  async function api(path, options = {}) {
    const response = await fetch(path, {...options, headers: {...authHeaders(), ...options.headers}})
    let body = null
    try {
      body = await response.json()
    } catch {
      // Not JSON: the status says enough.
    }
    return {status: response.status, body}
  }

  function whyRefused(status, body, action) {
    const details = body && body.details ? body.details : `HTTP ${status}`
    if (status === 401) {
      return `${action} refused: this server needs an access token for that (${details}). Enter one with the Token button.`
    }
    if (status === 403) {
      return `${action} refused: your token does not allow it (${details}). Enter a token with more rights with the Token button.`
    }
    return `${action} refused: ${details}`
  }

  // ---- session and token

  async function loadSession() {
    const {body} = await api('/api/session')
    state.session = body
    if (!body.read && !token())
      askToken('This server does not show images without a token. Enter an access token to see them.')
    state.viaBlobs = !body.read || Boolean(token())
    $('token-button').textContent = token() ? 'Token ✓' : 'Token'
  }

  function askToken(why) {
    $('token-why').textContent = why
    $('token-input').value = ''
    if (!$('token-dialog').open) $('token-dialog').showModal()
    $('token-input').focus()
  }

  async function useToken(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value)
    else sessionStorage.removeItem(TOKEN_KEY)
    $('token-dialog').close()
    await loadSession()
    await reload()
    connectLive()
  }

  // ---- images and thumbnails

  const blobUrls = new Map()

  async function blobUrl(path) {
    const response = await fetch(path, {headers: authHeaders()})
    if (!response.ok) throw new Error(`HTTP ${response.status}`)
    return URL.createObjectURL(await response.blob())
  }

  function setImage(img, path) {
    if (!state.viaBlobs) {
      img.src = path
      return
    }
    const old = blobUrls.get(img)
    if (old) URL.revokeObjectURL(old)
    blobUrl(path)
      .then((url) => {
        blobUrls.set(img, url)
        img.src = url
      })
      .catch(() => {
        img.src = '/assets/placeholder.svg'
      })
  }

  function releaseImage(img) {
    const url = blobUrls.get(img)
    if (url) URL.revokeObjectURL(url)
    blobUrls.delete(img)
  }

  function card(entry) {
    const item = document.createElement('li')
    item.dataset.name = entry.name
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'card'
    const img = document.createElement('img')
    img.alt = entry.name
    img.loading = 'lazy'
    img.decoding = 'async'
    img.dataset.thumbnail = entry.thumbnail
    setImage(img, entry.thumbnail)
    const label = document.createElement('span')
    label.className = 'name'
    label.textContent = entry.name
    label.title = entry.name
    button.append(img, label)
    button.addEventListener('click', () => openLightbox(state.images.findIndex((e) => e.name === entry.name)))
    item.append(button)
    return item
  }

  function render() {
    const grid = $('grid')
    for (const img of grid.querySelectorAll('img')) releaseImage(img)
    grid.replaceChildren(...state.images.map(card))
    $('empty').hidden = state.images.length > 0 || state.pageIndex > 0
    $('prev').disabled = state.pageIndex === 0
    $('next').disabled = state.next === null
    $('page-label').textContent = state.pageIndex > 0 || state.next ? `Page ${state.pageIndex + 1}` : ''
    $('count').textContent = `${state.images.length} shown`
  }

  async function reload() {
    const params = new URLSearchParams({sort: state.order, limit: String(PAGE_SIZE)})
    const cursor = state.cursors[state.pageIndex]
    if (cursor) params.set('after', cursor)
    if (state.filter) params.set('q', state.filter)
    const {status, body} = await api(`/api/images?${params}`)
    if (status === 200) {
      state.images = body.images
      state.next = body.next
    } else {
      notice(whyRefused(status, body, 'Listing'))
      state.images = []
      state.next = null
    }
    render()
  }

  function matchesFilter(name) {
    return state.filter === '' || name.toLocaleLowerCase().includes(state.filter.toLocaleLowerCase())
  }

  function belongsHere(entry) {
    if (!matchesFilter(entry.name)) return false
    if (state.order === 'newest') return state.pageIndex === 0
    const names = state.images.map((e) => e.name.toLowerCase())
    const key = entry.name.toLowerCase()
    const afterFirst = state.pageIndex === 0 || names.length === 0 || key > names[0]
    const beforeLast = state.next === null || names.length === 0 || key < names.at(-1)
    return afterFirst && beforeLast
  }

  function added(entry) {
    if (state.images.some((e) => e.name === entry.name) || !belongsHere(entry)) return
    if (state.order === 'newest') state.images.unshift(entry)
    else {
      const at = state.images.findIndex((e) => e.name.toLowerCase() > entry.name.toLowerCase())
      state.images.splice(at === -1 ? state.images.length : at, 0, entry)
    }
    if (state.images.length > PAGE_SIZE) state.images.length = PAGE_SIZE
    render()
  }

  function removed(name) {
    const index = state.images.findIndex((e) => e.name === name)
    if (index === -1) return
    state.images.splice(index, 1)
    render()
    if (state.open === index) closeLightbox()
  }

  function thumbnailReady(entry) {
    const index = state.images.findIndex((e) => e.name === entry.name)
    if (index === -1) return
    state.images[index] = entry
    const img = [...$('grid').querySelectorAll('li')].find((li) => li.dataset.name === entry.name)?.querySelector('img')
    if (img) setImage(img, `${entry.thumbnail}?v=${entry.placeholder ? 'p' : 't'}`)
  }

  // ---- live updates (server-sent events, read with fetch so that the token can be sent)

  let live = null

  async function connectLive() {
    if (live) live.abort()
    const controller = new AbortController()
    live = controller
    try {
      const response = await fetch('/api/events', {headers: authHeaders(), signal: controller.signal})
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`)
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      for (;;) {
        const {value, done} = await reader.read()
        if (done) break
        buffer += value
        let end
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          dispatchEvent(buffer.slice(0, end))
          buffer = buffer.slice(end + 2)
        }
      }
    } catch {
      // Reconnect below.
    }
    if (live === controller && !controller.signal.aborted) setTimeout(connectLive, 1000)
  }

  function dispatchEvent(block) {
    let event = 'message'
    let data = ''
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7)
      else if (line.startsWith('data: ')) data += line.slice(6)
    }
    if (event === 'hello') {
      // Connected (again): whatever happened meanwhile is in a fresh page.
      if (document.body.dataset.live === 'ready') reload()
      document.body.dataset.live = 'ready'
      return
    }
    const payload = JSON.parse(data)
    switch (event) {
      case 'published': {
        added(payload)
        break
      }
      case 'deleted': {
        removed(payload.name)
        break
      }
      case 'thumbnail': {
        thumbnailReady(payload)
        // No default
        break
      }
    }
  }

  // ---- lightbox

  function openLightbox(index) {
    if (index < 0 || index >= state.images.length) return
    state.open = index
    const entry = state.images[index]
    const img = $('lightbox-image')
    img.alt = entry.name
    setImage(img, entry.url)
    $('lightbox-name').textContent = entry.name
    const dimensions = entry.width && entry.height ? `${entry.width} × ${entry.height} px` : 'dimensions unknown'
    $('lightbox-facts').textContent =
      `${formatSize(entry.size)} · ${dimensions} · uploaded ${new Date(entry.modified).toLocaleString()}`
    $('delete').hidden = !(state.session && state.session.delete)
    if (!$('lightbox').open) $('lightbox').showModal()
  }

  function closeLightbox() {
    if ($('lightbox').open) $('lightbox').close()
  }

  function step(delta) {
    if (state.open === -1) return
    const next = state.open + delta
    if (next >= 0 && next < state.images.length) openLightbox(next)
  }

  async function download() {
    const entry = state.images[state.open]
    if (!entry) return
    const link = document.createElement('a')
    link.download = entry.name
    link.href = state.viaBlobs ? await blobUrl(`${entry.url}?download`) : `${entry.url}?download`
    link.click()
    if (state.viaBlobs) setTimeout(() => URL.revokeObjectURL(link.href), 10_000)
  }

  async function copyLink() {
    const entry = state.images[state.open]
    if (!entry) return
    const url = new URL(entry.url, location.href).href
    try {
      await navigator.clipboard.writeText(url)
      notice(`Link copied: ${url}`, true)
    } catch {
      notice(`Copy this link: ${url}`, true)
    }
  }

  function askDelete() {
    const entry = state.images[state.open]
    if (!entry) return
    $('confirm-name').textContent = entry.name
    $('confirm-dialog').dataset.name = entry.name
    $('confirm-dialog').showModal()
  }

  async function confirmDelete() {
    const name = $('confirm-dialog').dataset.name
    $('confirm-dialog').close()
    const {status, body} = await api(`/images/${encodeURIComponent(name)}`, {method: 'DELETE'})
    if (status === 200) {
      notice(`Deleted ${name}`, true)
      removed(name)
      closeLightbox()
    } else notice(whyRefused(status, body, `Deleting ${name}`))
  }

  // ---- uploads

  function upload(file) {
    const row = document.createElement('li')
    const label = document.createElement('span')
    label.textContent = file.name
    const bar = document.createElement('progress')
    bar.max = file.size || 1
    bar.value = 0
    const status = document.createElement('span')
    status.className = 'status'
    status.textContent = 'uploading'
    row.append(label, bar, status)
    $('uploads').append(row)

    const request = new XMLHttpRequest()
    request.open('PUT', `/images/${encodeURIComponent(file.name)}`)
    if (token()) request.setRequestHeader('Authorization', `Bearer ${token()}`)
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) bar.value = event.loaded
    })
    request.addEventListener('load', () => {
      let body = null
      try {
        body = JSON.parse(request.responseText)
      } catch {
        // The status says enough.
      }
      if (request.status === 201) {
        bar.value = bar.max
        status.textContent = 'stored'
        setTimeout(() => row.remove(), 4000)
      } else {
        status.classList.add('error')
        status.textContent = whyRefused(request.status, body, 'Upload')
        if (request.status === 401 || request.status === 403) notice(status.textContent)
      }
    })
    request.addEventListener('error', () => {
      status.classList.add('error')
      status.textContent = 'Upload failed: the connection to the server was lost'
    })
    request.send(file)
  }

  function uploadAll(files) {
    for (const file of files) upload(file)
  }

  // ---- keyboard

  function gridKeys(event) {
    const cards = [...$('grid').querySelectorAll('.card')]
    const at = cards.indexOf(document.activeElement)
    if (at === -1) return
    const columns = Math.max(1, Math.round($('grid').clientWidth / cards[0].offsetWidth))
    const moves = {ArrowRight: 1, ArrowLeft: -1, ArrowDown: columns, ArrowUp: -columns}
    const move = moves[event.key]
    if (move === undefined) return
    event.preventDefault()
    cards[Math.min(Math.max(at + move, 0), cards.length - 1)].focus()
  }

  // ---- start

  function wire() {
    $('filter').addEventListener('input', () => {
      state.filter = $('filter').value.trim()
      state.cursors = [undefined]
      state.pageIndex = 0
      clearTimeout(state.filterTimer)
      state.filterTimer = setTimeout(reload, 150)
    })
    $('sort').addEventListener('change', () => {
      state.order = $('sort').value
      state.cursors = [undefined]
      state.pageIndex = 0
      reload()
    })
    $('prev').addEventListener('click', () => {
      state.pageIndex = Math.max(0, state.pageIndex - 1)
      reload()
    })
    $('next').addEventListener('click', () => {
      if (state.next === null) return
      state.cursors[state.pageIndex + 1] = state.next
      state.pageIndex++
      reload()
    })
    $('picker').addEventListener('change', () => {
      uploadAll($('picker').files)
      $('picker').value = ''
    })
    $('token-button').addEventListener('click', () => askToken('Enter an access token for this server.'))
    $('token-save').addEventListener('click', () => useToken($('token-input').value.trim()))
    $('token-input').addEventListener('keydown', (event) => {
      if (event.key === 'Enter') useToken($('token-input').value.trim())
    })
    $('token-forget').addEventListener('click', () => useToken(''))
    $('token-cancel').addEventListener('click', () => $('token-dialog').close())
    $('lightbox-close').addEventListener('click', closeLightbox)
    $('lightbox-prev').addEventListener('click', () => step(-1))
    $('lightbox-next').addEventListener('click', () => step(1))
    $('lightbox').addEventListener('close', () => {
      const closed = state.open
      state.open = -1
      releaseImage($('lightbox-image'))
      $('lightbox-image').removeAttribute('src')
      const focused = $('grid').querySelectorAll('.card').item(closed)
      if (focused) focused.focus()
    })
    $('lightbox').addEventListener('keydown', (event) => {
      if (event.key === 'ArrowRight') step(1)
      else if (event.key === 'ArrowLeft') step(-1)
    })
    $('download').addEventListener('click', download)
    $('copy-link').addEventListener('click', copyLink)
    $('delete').addEventListener('click', askDelete)
    $('confirm-yes').addEventListener('click', confirmDelete)
    $('confirm-no').addEventListener('click', () => $('confirm-dialog').close())
    $('grid').addEventListener('keydown', gridKeys)

    let depth = 0
    document.addEventListener('dragenter', (event) => {
      if (!event.dataTransfer || !event.dataTransfer.types.includes('Files')) return
      depth++
      $('drop').hidden = false
    })
    document.addEventListener('dragleave', () => {
      depth = Math.max(0, depth - 1)
      if (depth === 0) $('drop').hidden = true
    })
    document.addEventListener('dragover', (event) => event.preventDefault())
    document.addEventListener('drop', (event) => {
      event.preventDefault()
      depth = 0
      $('drop').hidden = true
      if (event.dataTransfer) uploadAll(event.dataTransfer.files)
    })
  }

  async function start() {
    wire()
    await loadSession()
    await reload()
    connectLive()
    document.body.dataset.ready = 'true'
  }

  start()
})()
