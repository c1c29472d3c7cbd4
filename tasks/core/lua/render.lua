-- Render the assembled draft (front matter + sections) to docx, html and typst.
--
-- Usage: pandoc lua render.lua SPEC.json
-- SPEC: {front, sections = [paths], media_dir, meta = {...}, reference_doc, css,
--        outputs = {docx = path, html = path, typst = path}}
-- Only images from our own content-addressed media store are embedded; anything else is
-- replaced by its description, so no writer ever opens a file or URL from the inputs.

local CANONICAL = 'markdown-smart-raw_html-raw_attribute-raw_tex-native_divs-native_spans'
local TYPST_IMAGES = { png = true, jpg = true, jpeg = true, gif = true, svg = true, webp = true }
local MIME = { png = 'image/png', jpg = 'image/jpeg', jpeg = 'image/jpeg', gif = 'image/gif',
  svg = 'image/svg+xml', bmp = 'image/bmp', tif = 'image/tiff', emf = 'image/x-emf',
  wmf = 'image/x-wmf', webp = 'image/webp' }

local function read_file(path)
  local fh = io.open(path, 'rb')
  if not fh then return nil end
  local data = fh:read('a')
  fh:close()
  return data
end

local function write_file(path, data)
  local fh = assert(io.open(path, 'wb'))
  fh:write(data)
  fh:close()
end

local spec = pandoc.json.decode(read_file(arg[1]), false)

-- Unique heading ids (for the html table of contents; partner text never sets them) and
-- images from our media store, applied to each part as it is read: walking the joined
-- draft twice made pandoc peak at 2.1 GB instead of 1.5 GB at 1,500 reports (and took longer).
local heading = 0
local filter = {
  Header = function(h)
    heading = heading + 1
    h.identifier = 'rubrik-' .. heading
    return h
  end,
  Image = function(img)
    local name = img.src:match('normalised/media/(%x+%.%w+)$')
    local data = name and read_file(spec.media_dir .. '/' .. name)
    if not data then return img.caption end
    local ext = name:match('%.(%w+)$')
    img.src = 'media/' .. name
    pandoc.mediabag.insert(img.src, MIME[ext] or 'application/octet-stream', data)
    return img
  end,
}

-- Front matter from Markdown; sections as the ASTs written by merge.lua.
local blocks = pandoc.read(read_file(spec.front), CANONICAL .. '-auto_identifiers', {}, {}).blocks:walk(filter)
for _, path in ipairs(spec.sections) do
  blocks:extend(pandoc.read(read_file(path), 'json').blocks:walk(filter))
end

local meta = {}
for k, v in pairs(spec.meta) do meta[k] = pandoc.MetaString(v) end
local doc = pandoc.Pandoc(blocks, meta)

if spec.outputs.docx then
  local opts = pandoc.WriterOptions { reference_doc = spec.reference_doc, table_of_contents = true }
  write_file(spec.outputs.docx, pandoc.write(doc, 'docx', opts))
end

if spec.outputs.html then
  local opts = pandoc.WriterOptions {
    template = pandoc.template.compile(pandoc.template.default('html5')),
    table_of_contents = true,
    variables = { ['header-includes'] = '<style>' .. spec.css .. '</style>' },
  }
  write_file(spec.outputs.html, pandoc.write(doc, 'html5', opts))
end

if spec.outputs.typst then
  local typst_doc = doc:walk {
    Image = function(img)
      local ext = img.src:match('%.(%w+)$')
      if not TYPST_IMAGES[ext or ''] then return img.caption end
      return img
    end,
  }
  local opts = pandoc.WriterOptions {
    template = pandoc.template.compile(pandoc.template.default('typst')),
    table_of_contents = true,
    -- pandoc puts tables in figures; let them break across pages instead of overflowing one.
    variables = { ['header-includes'] = '#show figure: set block(breakable: true)' },
  }
  write_file(spec.outputs.typst, pandoc.write(typst_doc, 'typst', opts))
end
