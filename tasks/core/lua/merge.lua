-- Merge normalised reports into one section of the draft (one work package).
--
-- Usage: pandoc lua merge.lua SPEC.json
-- SPEC: {skeleton, out_md, out_json, reports = {[md_key] = local path of the report's AST}}.
-- The skeleton (rendered from templates/section.md.j2) holds placeholders
-- `::: {.report src="normalised/<partner>/<piece>.md"}`; each is replaced by the blocks of
-- that report, read separately (as a pandoc AST) so footnotes never collide.

local CANONICAL = 'markdown-smart-raw_html-raw_attribute-raw_tex-native_divs-native_spans'
local READ = CANONICAL .. '-auto_identifiers'

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

local spec = pandoc.json.decode(read_file(arg[1]), false)
local doc = pandoc.read(read_file(spec.skeleton), READ, {}, {})
doc = doc:walk {
  Div = function(div)
    if not div.classes:includes('report') then return nil end
    local path = spec.reports[div.attributes.src]
    if not path then return {} end
    return pandoc.read(read_file(path), 'json').blocks:walk {
      Image = function(img)
        img.src = img.src:gsub('^%.%./media/', '../normalised/media/')
        return img
      end,
    }
  end,
}
write_file(spec.out_json, pandoc.write(doc, 'json'))
write_file(spec.out_md, pandoc.write(doc, CANONICAL, { wrap_text = 'wrap-none' }))
