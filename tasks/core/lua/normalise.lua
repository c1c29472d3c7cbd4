-- Normalise a batch of partner reports into canonical Markdown, in one pandoc process.
--
-- Usage: pandoc lua normalise.lua JOBS.json
-- JOBS.json is a list of {id, input, format, reader, shift_to, out, media_dir, result[, slim][, alts]}:
-- `reader` is pandoc's reader for the file, from the table of accepted formats
-- (tasks/core/formats.py); `format` is the kind of report (docx, odt, md, ...).
-- Every input is read sandboxed (pandoc.read's fourth argument {} = no files may be
-- opened), raw HTML/TeX is dropped, only images carried inside the document are kept
-- (stored by content hash; in Markdown and HTML: data: URIs of raster images), links other
-- than http(s)/mailto are unwrapped, and headings are shifted so the report's top level
-- lands at `shift_to`, never skipping a level (1 -> 3 becomes 1 -> 2) and never empty.
-- Each image keeps its description (alt text: Word's `descr`, `alts` for an OpenDocument
-- file, whose reader drops them); the result lists the images without one and the
-- headings that skipped a level in the partner's document (docs/accessibility.md).

local CANONICAL = 'markdown-smart-raw_html-raw_attribute-raw_tex-native_divs-native_spans'
local EXT = { ['image/png'] = 'png', ['image/jpeg'] = 'jpg', ['image/gif'] = 'gif',
  ['image/svg+xml'] = 'svg', ['image/bmp'] = 'bmp', ['image/tiff'] = 'tif',
  ['image/x-emf'] = 'emf', ['image/x-wmf'] = 'wmf', ['image/emf'] = 'emf', ['image/wmf'] = 'wmf',
  ['image/webp'] = 'webp' }

local read_file, write_file = pandoc.system.read_file, pandoc.system.write_file

-- Images a Markdown or HTML report carries inside itself: data: URIs of raster images,
-- decoded here (pandoc's own fetch would look for a file of that name when one is malformed).
local DATA_MIME = { ['image/png'] = true, ['image/jpeg'] = true, ['image/gif'] = true, ['image/webp'] = true }
local B64 = {}
for i, c in ipairs({ ('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'):byte(1, -1) }) do
  B64[c] = i - 1
end

local function data_uri(src)
  local mime, payload = src:match('^data:([%w/%+%.%-]+);base64,(.*)$')
  if not mime or not DATA_MIME[mime:lower()] then return nil end
  payload = payload:gsub('%s', ''):gsub('=+$', '')
  local out, bits, n = {}, 0, 0
  for i = 1, #payload do
    local v = B64[payload:byte(i)]
    if not v then return nil end
    bits, n = ((bits << 6) | v) & 0xFFFFFF, n + 6
    if n >= 8 then
      n = n - 8
      out[#out + 1] = string.char((bits >> n) & 0xFF)
    end
  end
  if #out == 0 then return nil end
  return { mime = mime:lower(), contents = table.concat(out) }
end

-- Word documents are read with only the styles they use. pandoc parses every definition in
-- word/styles.xml, and a document made from Word's or python-docx's template carries a few
-- hundred it never refers to (350 KB of styles around 15 KB of text): that took three
-- quarters of the reading. The copy pandoc reads keeps every style the other parts name,
-- the styles those name in turn and the defaults; everything else in the file is passed on
-- as it is. pandoc's result is the same (tests/test_normalise.py compares both readings).
-- Anything unusual in the styles part (comments, CDATA, declarations, a style without an
-- id, an element that does not close) leaves the file as it came.
local W_NS = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main'

local function pattern_escape(s)
  return (s:gsub('[%^%$%(%)%%%.%[%]%*%+%-%?]', '%%%0'))
end

local function attribute_values(xml, into)
  for v in xml:gmatch('=%s*"([^"<]*)"') do into[v] = true end
  for v in xml:gmatch("=%s*'([^'<]*)'") do into[v] = true end
  return into
end

-- The end of the start tag that begins at `s` (a '>' outside quoted values), or nil.
local function tag_end(xml, s)
  local i, quote = s + 1, nil
  while true do
    local j = xml:find(quote and quote or '[>"\']', i, quote ~= nil)
    if not j then return nil end
    local c = xml:sub(j, j)
    if quote then
      quote, i = nil, j + 1
    elseif c == '>' then
      return j
    else
      quote, i = c, j + 1
    end
  end
end

-- Patterns for the value of attribute `name` in a start tag (double or single quotes).
local function attribute_patterns(name)
  local pat = '[%s]' .. pattern_escape(name) .. '%s*=%s*'
  return { pat .. '"([^"]*)"', pat .. "'([^']*)'" }
end

local function attribute(tag, patterns)
  return tag:match(patterns[1]) or tag:match(patterns[2])
end

-- `styles` with the unused style definitions and the latent styles left out, or nil.
local function slim_styles(styles, used)
  for _, odd in ipairs({ '<!--', '<![CDATA[', '<!DOCTYPE', '<!ENTITY' }) do
    if styles:find(odd, 1, true) then return nil end
  end
  local pi = styles:find('<?', 1, true)
  if pi and (styles:find('<?', pi + 2, true) or not styles:sub(1, pi - 1):match('^\239?\187?\191?%s*$')) then
    return nil  -- a processing instruction other than the declaration at the start
  end
  local prefix = styles:match('xmlns:([%w_%.%-]+)%s*=%s*["\']' .. pattern_escape(W_NS) .. '["\']')
  if not prefix then return nil end
  local open, close = '<' .. prefix .. ':style', '</' .. prefix .. ':style>'
  local id_patterns, default_patterns = attribute_patterns(prefix .. ':styleId'), attribute_patterns(prefix .. ':default')
  local found, by_id, pos = {}, {}, 1
  while true do
    local s = styles:find(open, pos, true)
    if not s then break end
    local after = styles:sub(s + #open, s + #open)
    if after:match('[%s/>]') then
      local te = tag_end(styles, s)
      if not te then return nil end
      local tag = styles:sub(s, te)
      local e = te
      if styles:sub(te - 1, te - 1) ~= '/' then
        local c = styles:find(close, te, true)
        if not c then return nil end
        local inner = styles:find(open, te, true)
        if inner and inner < c and styles:sub(inner + #open, inner + #open):match('[%s/>]') then return nil end
        e = c + #close - 1
      end
      local id = attribute(tag, id_patterns)
      if not id then return nil end
      local default = attribute(tag, default_patterns)
      local style = { s = s, e = e, id = id, default = default == '1' or default == 'true' or default == 'on' }
      table.insert(found, style)
      by_id[id] = style
      pos = e + 1
    else
      pos = s + #open
    end
  end
  local keep, todo = {}, {}
  for _, style in ipairs(found) do
    if used[style.id] or style.default then
      keep[style.id] = true
      table.insert(todo, style)
    end
  end
  while #todo > 0 do
    local style = table.remove(todo)
    for v in pairs(attribute_values(styles:sub(style.s, style.e), {})) do
      if by_id[v] and not keep[v] then
        keep[v] = true
        table.insert(todo, by_id[v])
      end
    end
  end
  local parts, last = {}, 1
  for _, style in ipairs(found) do
    if not keep[style.id] then
      table.insert(parts, styles:sub(last, style.s - 1))
      last = style.e + 1
    end
  end
  table.insert(parts, styles:sub(last))
  local slim = table.concat(parts)
  -- Latent styles only tell Word how to show styles that are not defined: pandoc has no use for them.
  local latent = '<' .. prefix .. ':latentStyles'
  local ls = slim:find(latent, 1, true)
  if ls and slim:sub(ls + #latent, ls + #latent):match('[%s/>]') then
    local te = tag_end(slim, ls)
    if not te then return nil end
    local le = te
    if slim:sub(te - 1, te - 1) ~= '/' then
      local c = slim:find('</' .. prefix .. ':latentStyles>', te, true)
      if not c then return nil end
      le = c + #('</' .. prefix .. ':latentStyles>') - 1
    end
    slim = slim:sub(1, ls - 1) .. slim:sub(le + 1)
  end
  return slim
end

local STYLE_PARTS = { ['word/styles.xml'] = true, ['word/stylesWithEffects.xml'] = true }
-- Below this size pandoc reads the styles part quicker than it is made smaller (a short
-- document as a word processor saves it: about 16 KB, latent styles included).
local SLIM_FROM_BYTES = 65536

-- The Word document `data` as pandoc should read it (see above); `data` itself when it
-- cannot be made smaller, or need not be.
local function slim_docx(data)
  local ok, result = pcall(function()
    local archive = pandoc.zip.Archive(data)
    local styles_entry, styles, used = nil, nil, {}
    for _, entry in ipairs(archive.entries) do
      if entry.path == 'word/styles.xml' then styles_entry = entry end
    end
    if not styles_entry then return data end
    styles = styles_entry:contents()
    if #styles < SLIM_FROM_BYTES then return data end
    for _, entry in ipairs(archive.entries) do
      local path = entry.path
      if not STYLE_PARTS[path] and (path:lower():match('%.xml$') or path:lower():match('%.rels$')) then
        attribute_values(entry:contents(), used)
      end
    end
    local slim = slim_styles(styles, used)
    if not slim then return data end
    local entries = {}
    for _, entry in ipairs(archive.entries) do
      table.insert(entries, entry.path == 'word/styles.xml' and pandoc.zip.Entry(entry.path, slim, entry.modtime)
        or entry)
    end
    return pandoc.zip.Archive(entries):bytestring()
  end)
  return ok and result or data
end

local function count_words(blocks)
  local n = 0
  for _, block in ipairs(blocks) do
    for _ in pandoc.utils.stringify(block):gmatch('%S+') do n = n + 1 end
  end
  return n
end

local function safe_link(target)
  local t = target:lower()
  return t:match('^https?://') or t:match('^mailto:') or t:match('^#')
end

local function has_text(inlines)
  return pandoc.utils.stringify(inlines):match('%S') ~= nil
end

-- `doc` with the descriptions an OpenDocument file gives its images (`alts`, in document
-- order, read by tasks/intake/normalise.py) on the images pandoc read without one; left as
-- it is when the images do not pair up one to one.
local function with_alts(doc, alts)
  local count = 0
  doc:walk { Image = function() count = count + 1 end }
  if count ~= #alts then return doc end
  local i = 0
  return doc:walk { traverse = 'topdown', Image = function(img)
    i = i + 1
    if not has_text(img.caption) and alts[i] ~= '' then img.caption = pandoc.Inlines(alts[i]) end
    return img
  end }
end

-- At most this many characters of the text next to an image are kept to say where it is.
local NEAR = 120

-- The images in document order, each with its description and the text nearest to it: the
-- text of its own paragraph, else the paragraph before it, else the one after it.
local function image_places(blocks)
  local places, texts = {}, {}
  local function leaf(el)
    local bare = el:walk { Note = function() return {} end }
    local found = {}
    bare:walk { Image = function(img) table.insert(found, img) end }
    local text = pandoc.utils.stringify(bare:walk { Image = function() return {} end })
    text = text:gsub('%s+', ' '):match('^ ?(.-) ?$')
    if text ~= '' then table.insert(texts, text) end
    for _, img in ipairs(found) do
      table.insert(places, { alt = pandoc.utils.stringify(img.caption), text = #texts, inside = text ~= '' })
    end
  end
  blocks:walk { traverse = 'topdown', Para = leaf, Plain = leaf, Header = leaf, LineBlock = leaf }
  for _, place in ipairs(places) do
    if place.inside then
      place.where, place.near = 'in', texts[place.text]
    elseif place.text > 0 then
      place.where, place.near = 'after', texts[place.text]
    elseif #texts > 0 then
      place.where, place.near = 'before', texts[1]
    else
      place.where, place.near = 'alone', ''
    end
    place.near = pandoc.text.sub(place.near, 1, NEAR)
  end
  return places
end

-- The images of `places` without a description: {n, of, where, near}.
local function without_alt(places)
  local missing = {}
  for n, place in ipairs(places) do
    if not place.alt:match('%S') then
      table.insert(missing, { n = n, of = #places, where = place.where, near = place.near })
    end
  end
  return missing
end

local function convert(job)
  local data = read_file(job.input)
  if job.format == 'docx' and job.slim ~= false then data = slim_docx(data) end
  local doc = pandoc.read(data, job.reader, { track_changes = 'accept-changes' }, {})

  -- Media carried inside the document, by path; nothing else may be referenced.
  local media = {}
  for _, item in ipairs(pandoc.mediabag.list()) do
    local mime, contents = pandoc.mediabag.fetch(item.path)
    media[item.path] = { mime = mime or item.type, contents = contents }
  end
  pandoc.mediabag.empty()

  if job.alts then doc = with_alts(doc, job.alts) end
  local warnings, images, dropped, kept, figures = {}, {}, 0, 0, 0
  local filter = {
    RawBlock = function() return {} end,
    RawInline = function() return {} end,
    Div = function(el) return el.content end,
    Span = function(el) return el.content end,
    Figure = function() figures = figures + 1 end,
    Link = function(el)
      if not safe_link(el.target) then return el.content end
      el.attr = pandoc.Attr()
      local has_image = false
      el.content:walk { Image = function() has_image = true end }
      -- A link without text says nothing to a screen reader: its address is its text.
      if not has_image and not has_text(el.content) then el.content = pandoc.Inlines(el.target) end
      return el
    end,
    Image = function(img)
      local m = media[img.src] or data_uri(img.src)
      if not m then
        dropped = dropped + 1
        return img.caption
      end
      local ext = EXT[m.mime] or (img.src:match('%.(%w+)$') or 'bin'):lower()
      local name = pandoc.utils.sha1(m.contents) .. '.' .. ext
      local path = job.media_dir .. '/' .. name
      if not images[name] then
        write_file(path, m.contents)
        images[name] = m.mime
      end
      img.src = '../media/' .. name
      kept = kept + 1
      img.title = ''
      local attr = pandoc.Attr()
      attr.attributes.width = img.attributes.width
      img.attr = attr
      return img
    end,
  }
  doc = doc:walk(filter)
  -- A figure whose image was dropped keeps its caption once, as a paragraph. (A walk costs
  -- about as much as reading a short report, so walks that would find nothing are left out.)
  if figures > 0 then doc = doc:walk {
    Figure = function(fig)
      local has_image = false
      fig.content:walk { Image = function() has_image = true end }
      if has_image then return fig end
      return pandoc.Para(pandoc.utils.blocks_to_inlines(fig.caption.long))
    end,
  } end

  local places = kept > 0 and image_places(doc.blocks) or {}
  -- Title: document metadata, else a leading top-level heading (removed from the body).
  local title = doc.meta.title and pandoc.utils.stringify(doc.meta.title) or ''
  -- The partner's level of the heading before the next one (for the headings that skip a
  -- level): the leading heading's, when it goes.
  local written
  local function drop_leading_heading()
    if has_text(doc.blocks[1].content) then written = doc.blocks[1].level end
    doc.blocks:remove(1)
  end
  -- A leading heading that repeats the title is dropped (the draft shows the title).
  if title ~= '' and #doc.blocks > 0 and doc.blocks[1].t == 'Header'
      and pandoc.utils.stringify(doc.blocks[1]) == title then
    drop_leading_heading()
  end
  local min_level = 7
  for _, b in ipairs(doc.blocks) do
    if b.t == 'Header' and b.level < min_level then min_level = b.level end
  end
  if title == '' and #doc.blocks > 0 and doc.blocks[1].t == 'Header' and doc.blocks[1].level == min_level then
    local count = 0
    for _, b in ipairs(doc.blocks) do
      if b.t == 'Header' and b.level == min_level then count = count + 1 end
    end
    if count == 1 then
      title = pandoc.utils.stringify(doc.blocks[1])
      drop_leading_heading()
      min_level = 7
      for _, b in ipairs(doc.blocks) do
        if b.t == 'Header' and b.level < min_level then min_level = b.level end
      end
    end
  end

  local shift = job.shift_to - min_level
  local previous = job.shift_to - 1  -- the level of the draft's heading above the report
  -- Headings deeper than the one before them by more than a level, as the partner wrote them.
  local skips = {}
  doc.blocks = doc.blocks:walk {
    traverse = 'topdown',
    Header = function(h)
      if not has_text(h.content) then  -- an empty heading is no heading (a screen reader would list it)
        return #h.content > 0 and pandoc.Para(h.content) or {}
      end
      if written and h.level > written + 1 then
        table.insert(skips, { text = pandoc.text.sub(pandoc.utils.stringify(h.content), 1, NEAR),
                              level = h.level, previous = written })
      end
      written = h.level
      local level = math.min(h.level + shift, previous + 1)
      if level > 6 then return pandoc.Para { pandoc.Strong(h.content) } end
      previous = level
      h.level = level
      h.identifier = ''
      return h
    end,
  }
  if dropped > 0 then table.insert(warnings, 'images_dropped:' .. dropped) end

  local options = { wrap_text = 'wrap-none' }
  local body = pandoc.Pandoc(doc.blocks)
  write_file(job.out, pandoc.write(body, CANONICAL, options))
  -- The AST too: merging reads it back far faster than it would parse the Markdown.
  write_file(job.ast, pandoc.write(body, 'json'))
  local meta = {}
  for _, key in ipairs({ 'subject', 'keywords', 'author', 'description' }) do
    if doc.meta[key] then meta[key] = pandoc.utils.stringify(doc.meta[key]) end
  end
  local names = {}
  for name, _ in pairs(images) do table.insert(names, name) end
  table.sort(names)
  return { ok = true, title = title, words = count_words(doc.blocks), images = names,
           warnings = warnings, meta = meta, missing_alt = without_alt(places), heading_skips = skips }
end

local jobs = pandoc.json.decode(read_file(arg[1]), false)
for _, job in ipairs(jobs) do
  local ok, result = pcall(convert, job)
  if not ok then
    pandoc.mediabag.empty()
    result = { ok = false, error = tostring(result) }
  end
  result.id = job.id
  -- The result appears whole or not at all: the caller watches for it to see progress.
  write_file(job.result .. '.part', pandoc.json.encode(result))
  assert(os.rename(job.result .. '.part', job.result))
end
