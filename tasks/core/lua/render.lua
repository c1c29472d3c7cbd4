-- The opening of the draft in each format, with the place where the paket go.
--
-- Usage: pandoc lua render.lua SPEC.json
-- SPEC: {front, meta = {...}, reference_doc, css, headings = [paths], marker,
--        toc_marker, outputs = {docx = path, html = path, typst = path, typst_front = path,
--        typst_part = path}}
-- The paket are rendered on their own (paket.lua) and joined in by tasks/draft/render.py:
-- the Word document is the opening (title block, table of contents, front matter) that
-- the paket's Word parts are appended to; the HTML page and the Typst source hold a
-- paragraph `marker` where the paket's fragments go. The HTML table of contents is made
-- here from the paket's headings (`headings`: their JSON files, in order); Word and Typst
-- make theirs when the document is opened or compiled.

local CANONICAL = 'markdown-smart-raw_html-raw_attribute-raw_tex-native_divs-native_spans'

local read_file, write_file = pandoc.system.read_file, pandoc.system.write_file

local spec = pandoc.json.decode(read_file(arg[1]), false)

-- The front matter is ours (templates/front.md.j2) and holds no headings or images.
local front = pandoc.read(read_file(spec.front), CANONICAL .. '-auto_identifiers', {}, {}).blocks
local meta = {}
for k, v in pairs(spec.meta) do meta[k] = pandoc.MetaString(v) end

if spec.outputs.docx then
  local opts = pandoc.WriterOptions { reference_doc = spec.reference_doc, table_of_contents = true }
  write_file(spec.outputs.docx, pandoc.write(pandoc.Pandoc(front, meta), 'docx', opts))
end

local with_marker = front:clone()
with_marker:insert(pandoc.Para { pandoc.Str(spec.marker) })
local shell = pandoc.Pandoc(with_marker, meta)

if spec.outputs.html then
  local headings = pandoc.Blocks {}
  for _, path in ipairs(spec.headings) do
    headings:extend(pandoc.read(read_file(path), 'json').blocks)
  end
  local toc = pandoc.write(pandoc.Pandoc(headings), 'html5', pandoc.WriterOptions {
    template = pandoc.template.compile('$table-of-contents$'), table_of_contents = true,
  })
  local opts = pandoc.WriterOptions {
    template = pandoc.template.compile(pandoc.template.default('html5')),
    variables = { ['header-includes'] = '<style>' .. spec.css .. '</style>', toc = true,
                  ['table-of-contents'] = toc },
  }
  write_file(spec.outputs.html, pandoc.write(shell, 'html5', opts))
end

-- Typst: the opening with the table of contents Typst makes and the paket after it
-- (`typst`); for a draft laid out in parts (tasks/draft/pdf.py), the opening alone with
-- `toc_marker` where the table of contents made from the parts goes (`typst_front`), and a
-- part's shell with no title block (`typst_part`). The opening's pages are numbered i, ii, …
-- and the paket's from 1.
local function typst_shell(doc, toc, numbering)
  local opts = pandoc.WriterOptions {
    template = pandoc.template.compile(pandoc.template.default('typst')),
    table_of_contents = toc,
    -- pandoc puts tables in figures; let them break across pages instead of overflowing one.
    variables = { ['header-includes'] = '#show figure: set block(breakable: true)',
                  ['page-numbering'] = numbering },
  }
  return pandoc.write(doc, 'typst', opts)
end

if spec.outputs.typst then
  write_file(spec.outputs.typst, typst_shell(shell, true, 'i'))
end
if spec.outputs.typst_front then
  local blocks = front:clone()
  blocks:insert(1, pandoc.Para { pandoc.Str(spec.toc_marker) })
  write_file(spec.outputs.typst_front, typst_shell(pandoc.Pandoc(blocks, meta), false, 'i'))
end
if spec.outputs.typst_part then
  local part_meta = { lang = meta.lang }
  write_file(spec.outputs.typst_part,
             typst_shell(pandoc.Pandoc({ pandoc.Para { pandoc.Str(spec.marker) } }, part_meta), false, '1'))
end
