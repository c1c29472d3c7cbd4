-- The draft's parts, rendered in a batch: each report on its own, and each paket's frame
-- (its headings, the partners' attribution lines, the pieces nobody delivered) with a
-- marker paragraph where each report goes. tasks/draft/merge.py keeps them until what
-- they are made from changes, and tasks/draft/render.py joins them into the draft.
--
-- Usage: pandoc lua parts.lua SPEC.json
-- SPEC: {marker, media_dir, reference_doc, formats = {html = bool, typst = bool}, out,
--        units = [{kind = "report", ast = path, prefix = "…-", images = bool, md = bool}
--                 | {kind = "frame", skeleton = path, number = n}]}
-- A report's Markdown is written only when `md` (Python has it when nothing in the report
-- differs from its normalised Markdown); `images`: whether it has any (else no walk looks).
-- `out` gets one JSON file: per unit its Markdown, HTML and Typst (a frame: a list of
-- pieces, split at its report markers) and, for a frame, its headings (for the HTML table
-- of contents); and one Word document (`out`.docx) with every unit in turn, each after a
-- paragraph `<marker>U<i>` and report places as `<marker>S<j>`, which Python splits into
-- the units' own parts. A report's footnote labels and HTML ids start with its `prefix`;
-- a frame's headings get the ids `rubrik-<n>-<k>` (the Word document has no heading ids,
-- so no bookmark ever spans two parts). Only images from our own content-addressed media
-- store are embedded; anything else is replaced by its description, so no writer ever
-- opens a file or URL from the inputs. An image the partner gave no description gets a
-- placeholder one, shown under it as well; the Typst has every image's and equation's
-- description (PDF/UA-1 wants one: docs/accessibility.md).

local CANONICAL = 'markdown-smart-raw_html-raw_attribute-raw_tex-native_divs-native_spans'
local READ = CANONICAL .. '-auto_identifiers'
local TYPST_IMAGES = { png = true, jpg = true, jpeg = true, gif = true, svg = true, webp = true }
local MIME = { png = 'image/png', jpg = 'image/jpeg', jpeg = 'image/jpeg', gif = 'image/gif',
  svg = 'image/svg+xml', bmp = 'image/bmp', tif = 'image/tiff', emf = 'image/x-emf',
  wmf = 'image/x-wmf', webp = 'image/webp' }

local read_file, write_file = pandoc.system.read_file, pandoc.system.write_file

-- What an image without a description from its partner is described as, and what is shown
-- under it (Swedish: reviewers read it).
local PLACEHOLDER_ALT = 'Bild utan beskrivning'
local PLACEHOLDER_SHOWN = '(Bildbeskrivning saknas. Partnern har ombetts att lägga till en.)'

local spec = pandoc.json.decode(read_file(arg[1]), false)

local function marker(kind, i)
  return pandoc.Para { pandoc.Str(spec.marker .. kind .. string.format('%d', i)) }
end

-- Images as the draft shows them: from our media store, embedded; anything else its description.
local shown_images = {
  Image = function(img)
    local name = img.src:match('normalised/media/(%x+%.%w+)$')
    local ok, data = false, nil
    if name then ok, data = pcall(read_file, spec.media_dir .. '/' .. name) end
    if not ok then return img.caption end  -- not in the media store (any more)
    local ext = name:match('%.(%w+)$')
    img.src = 'media/' .. name
    pandoc.mediabag.insert(img.src, MIME[ext] or 'application/octet-stream', data)
    if pandoc.utils.stringify(img.caption):match('%S') then return img end
    img.caption = pandoc.Inlines(PLACEHOLDER_ALT)
    return { img, pandoc.Space(), pandoc.Emph(pandoc.Inlines(PLACEHOLDER_SHOWN)) }
  end,
}
local typst_images = {
  Image = function(img)
    local ext = img.src:match('%.(%w+)$')
    if not TYPST_IMAGES[ext or ''] then return img.caption end
    return img
  end,
}
local no_ids = { Header = function(h) h.identifier = ''; return h end }

local function typst_string(text)
  return '"' .. text:gsub('%s+', ' '):gsub('[\\"]', '\\%0') .. '"'
end

-- The Typst of `blocks` with a description on every image and equation (pandoc 3.9 writes
-- none): `image("…", alt: "…")`, and each equation in a scope that sets its alt to its TeX.
local function typst_of(blocks)
  local alts = {}
  blocks = blocks:walk {
    traverse = 'topdown',
    Image = function(img) table.insert(alts, { src = img.src, alt = pandoc.utils.stringify(img.caption) }) end,
    Math = function(m)
      local written = pandoc.write(pandoc.Pandoc { pandoc.Plain { m } }, 'typst'):gsub('%s+$', '')
      return pandoc.RawInline('typst', '#{set math.equation(alt: ' .. typst_string(m.text) .. '); ' .. written .. '}')
    end,
  }
  local text, parts, pos = pandoc.write(pandoc.Pandoc(blocks), 'typst'), {}, 1
  for _, image in ipairs(alts) do
    local _, e = text:find('image("' .. image.src .. '"', pos, true)
    if e then
      table.insert(parts, text:sub(pos, e) .. ', alt: ' .. typst_string(image.alt))
      pos = e + 1
    end
  end
  table.insert(parts, text:sub(pos))
  return table.concat(parts)
end

-- A frame's pieces in one format: the frame written whole, split at its report markers.
local function split(text, pattern)
  local pieces, last = {}, 1
  while true do
    local s, e = text:find(pattern, last)
    if not s then break end
    table.insert(pieces, text:sub(last, s - 1))
    last = e + 1
  end
  table.insert(pieces, text:sub(last))
  return pieces
end

local results, word = {}, pandoc.Blocks {}
for i, unit in ipairs(spec.units) do
  local blocks, result = nil, {}
  if unit.kind == 'report' then
    blocks = pandoc.read(read_file(unit.ast), 'json').blocks
    if unit.images then
      blocks = blocks:walk {
        Image = function(img)
          img.src = img.src:gsub('^%.%./media/', '../normalised/media/')
          return img
        end,
      }
    end
    if unit.md then
      result.md = pandoc.write(pandoc.Pandoc(blocks), CANONICAL,
        pandoc.WriterOptions { wrap_text = 'wrap-none', identifier_prefix = unit.prefix })
    end
    if unit.images then blocks = blocks:walk(shown_images) end
    if spec.formats.html then
      result.html = pandoc.write(pandoc.Pandoc(blocks), 'html5', pandoc.WriterOptions { identifier_prefix = unit.prefix })
    end
    if spec.formats.typst then
      result.typst = typst_of(unit.images and blocks:walk(typst_images) or blocks)
    end
  else
    local slot = 0
    local number = string.format('%d', unit.number)
    local heading = 0
    blocks = pandoc.read(read_file(unit.skeleton), READ, {}, {}).blocks:walk {
      Div = function(div)
        if not div.classes:includes('report') then return nil end
        slot = slot + 1
        return marker('S', slot)
      end,
      Header = function(h)
        heading = heading + 1
        h.identifier = 'rubrik-' .. number .. '-' .. heading
        return h
      end,
    }
    local slot_text = spec.marker .. 'S%d+'
    result.md = split(pandoc.write(pandoc.Pandoc(blocks:walk(no_ids)), CANONICAL, { wrap_text = 'wrap-none' }),
      '\n*' .. slot_text .. '\n*')
    local headings = pandoc.Blocks {}
    blocks:walk { Header = function(h) if h.level <= 3 then headings:insert(h) end end }
    result.headings = pandoc.write(pandoc.Pandoc(headings), 'json')
    if spec.formats.html then
      result.html = split(pandoc.write(pandoc.Pandoc(blocks), 'html5'), '\n?<p>' .. slot_text .. '</p>\n?')
    end
    if spec.formats.typst then
      result.typst = split(pandoc.write(pandoc.Pandoc(blocks), 'typst'), '\n*' .. slot_text .. '\n*')
    end
    result.slots = slot
  end
  table.insert(results, result)
  word:insert(marker('U', i))
  word:extend(unit.kind == 'frame' and blocks:walk(no_ids) or blocks)  -- a report's headings have no ids
end
word:insert(marker('U', #spec.units + 1))
write_file(spec.out .. '.docx', pandoc.write(pandoc.Pandoc(word), 'docx',
  pandoc.WriterOptions { reference_doc = spec.reference_doc }))
write_file(spec.out, pandoc.json.encode(results))
