-- Normalise a batch of partner reports into canonical Markdown, in one pandoc process.
--
-- Usage: pandoc lua normalise.lua JOBS.json
-- JOBS.json is a list of {id, input, format, shift_to, out, media_dir, result}.
-- Every input is read sandboxed (pandoc.read's fourth argument {} = no files may be
-- opened), raw HTML/TeX is dropped, only images carried inside the document are kept
-- (stored by content hash), links other than http(s)/mailto are unwrapped, and headings
-- are shifted so the report's top level lands at `shift_to`.

local CANONICAL = 'markdown-smart-raw_html-raw_attribute-raw_tex-native_divs-native_spans'
local READERS = {
  docx = 'docx', odt = 'odt', rtf = 'rtf', html = 'html',
  -- Raw HTML and raw blocks are recognised (so the filter drops them) instead of showing
  -- as literal tags; raw TeX stays text (the reader must never act on \input). Front
  -- matter is read (and removed) by utkast, so no YAML reaches pandoc.
  md = 'markdown-smart-raw_tex-yaml_metadata_block',
  txt = 'markdown-smart-raw_html-raw_attribute-raw_tex-yaml_metadata_block-tex_math_dollars-pipe_tables',
}
local EXT = { ['image/png'] = 'png', ['image/jpeg'] = 'jpg', ['image/gif'] = 'gif',
  ['image/svg+xml'] = 'svg', ['image/bmp'] = 'bmp', ['image/tiff'] = 'tif',
  ['image/x-emf'] = 'emf', ['image/x-wmf'] = 'wmf', ['image/emf'] = 'emf', ['image/wmf'] = 'wmf',
  ['image/webp'] = 'webp' }

local function read_file(path)
  local fh = assert(io.open(path, 'rb'))
  local data = fh:read('a')
  fh:close()
  return data
end

local function write_file(path, data)
  local fh = assert(io.open(path, 'wb'))
  fh:write(data)
  fh:close()
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

local function convert(job)
  local data = read_file(job.input)
  local doc = pandoc.read(data, READERS[job.format], { track_changes = 'accept-changes' }, {})

  -- Media carried inside the document, by path; nothing else may be referenced.
  local media = {}
  for _, item in ipairs(pandoc.mediabag.list()) do
    local mime, contents = pandoc.mediabag.fetch(item.path)
    media[item.path] = { mime = mime or item.type, contents = contents }
  end
  pandoc.mediabag.empty()

  local warnings, images, dropped = {}, {}, 0
  local filter = {
    RawBlock = function() return {} end,
    RawInline = function() return {} end,
    Div = function(el) return el.content end,
    Span = function(el) return el.content end,
    Link = function(el)
      if safe_link(el.target) then el.attr = pandoc.Attr(); return el end
      return el.content
    end,
    Image = function(img)
      local m = media[img.src]
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
      img.title = ''
      local attr = pandoc.Attr()
      attr.attributes.width = img.attributes.width
      img.attr = attr
      return img
    end,
  }
  doc = doc:walk(filter)
  -- A figure whose image was dropped keeps its caption once, as a paragraph.
  doc = doc:walk {
    Figure = function(fig)
      local has_image = false
      fig.content:walk { Image = function() has_image = true end }
      if has_image then return fig end
      return pandoc.Para(pandoc.utils.blocks_to_inlines(fig.caption.long))
    end,
  }

  -- Title: document metadata, else a leading top-level heading (removed from the body).
  local title = doc.meta.title and pandoc.utils.stringify(doc.meta.title) or ''
  -- A leading heading that repeats the title is dropped (the draft shows the title).
  if title ~= '' and #doc.blocks > 0 and doc.blocks[1].t == 'Header'
      and pandoc.utils.stringify(doc.blocks[1]) == title then
    doc.blocks:remove(1)
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
      doc.blocks:remove(1)
      min_level = 7
      for _, b in ipairs(doc.blocks) do
        if b.t == 'Header' and b.level < min_level then min_level = b.level end
      end
    end
  end

  local shift = job.shift_to - min_level
  doc.blocks = doc.blocks:walk {
    Header = function(h)
      local level = h.level + shift
      if level > 6 then return pandoc.Para { pandoc.Strong(h.content) } end
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
           warnings = warnings, meta = meta }
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
