-- One work package ("paket") of the draft: its section, merged from the reports, and the
-- section rendered on its own, ready to be joined into the draft (tasks/draft/render.py).
--
-- Usage: pandoc lua paket.lua SPEC.json
-- SPEC: {number, skeleton, reports = {[md_key] = local path of the report's masked AST},
--        media_dir, reference_doc,
--        out = {json, md, headings, docx?, html?, typst?}}
-- The skeleton (rendered from templates/section.md.j2) holds placeholders
-- `::: {.report src="normalised/<partner>/<piece>.md"}`; each is replaced by the blocks of
-- that report, read separately (as a pandoc AST) so footnotes never collide.
--
-- Outputs: the section as AST and Markdown (sections/paket-<n>.*); the section alone as a
-- Word document, an HTML fragment and a Typst fragment (no title, no table of contents);
-- and its headings down to level 3 (JSON), from which the draft's HTML table of contents
-- is made. Headings get ids `rubrik-<n>-<k>` and the HTML fragment the id prefix `p<n>-`,
-- so nothing in one paket's part can clash with another's. Only images from our own
-- content-addressed media store are embedded; anything else is replaced by its
-- description, so no writer ever opens a file or URL from the inputs.

local CANONICAL = 'markdown-smart-raw_html-raw_attribute-raw_tex-native_divs-native_spans'
local READ = CANONICAL .. '-auto_identifiers'
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

local spec = pandoc.json.decode(assert(read_file(arg[1])), false)

-- The section: the skeleton with each report's blocks in place of its placeholder.
local doc = pandoc.read(assert(read_file(spec.skeleton)), READ, {}, {})
doc = doc:walk {
  Div = function(div)
    if not div.classes:includes('report') then return nil end
    local path = spec.reports[div.attributes.src]
    if not path then return {} end
    return pandoc.read(assert(read_file(path)), 'json').blocks:walk {
      Image = function(img)
        img.src = img.src:gsub('^%.%./media/', '../normalised/media/')
        return img
      end,
    }
  end,
}
write_file(spec.out.json, pandoc.write(doc, 'json'))
write_file(spec.out.md, pandoc.write(doc, CANONICAL, { wrap_text = 'wrap-none' }))

-- The section as the draft shows it: heading ids, and images from our media store.
local number = string.format('%d', spec.number)
local prefix = 'p' .. number .. '-'
local heading = 0
local headings = pandoc.Blocks {}
local shown = doc.blocks:walk {
  Header = function(h)
    heading = heading + 1
    h.identifier = 'rubrik-' .. number .. '-' .. heading
    if h.level <= 3 then
      local copy = h:clone()
      copy.identifier = prefix .. h.identifier  -- as the HTML fragment writes it
      headings:insert(copy)
    end
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
local part = pandoc.Pandoc(shown)
write_file(spec.out.headings, pandoc.write(pandoc.Pandoc(headings), 'json'))

if spec.out.docx then
  write_file(spec.out.docx, pandoc.write(part, 'docx', pandoc.WriterOptions { reference_doc = spec.reference_doc }))
end

if spec.out.html then
  write_file(spec.out.html, pandoc.write(part, 'html5', pandoc.WriterOptions { identifier_prefix = prefix }))
end

if spec.out.typst then
  local typst_part = part:walk {
    Image = function(img)
      local ext = img.src:match('%.(%w+)$')
      if not TYPST_IMAGES[ext or ''] then return img.caption end
      return img
    end,
  }
  write_file(spec.out.typst, pandoc.write(typst_part, 'typst'))
end
