-- Merge normalised reports into one Markdown section per work package.
--
-- Usage: pandoc lua merge.lua SPEC.json
-- SPEC: {sections = [{skeleton, out}], reports = {[md_key] = local_path}}.
-- Each section skeleton (rendered from templates/section.md.j2) holds placeholders
-- `::: {.report src="normalised/<partner>/<piece>.md"}`; each is replaced by the blocks
-- of that report, read separately so footnotes never collide.

local CANONICAL = 'markdown-smart-raw_html-raw_attribute-raw_tex-native_divs-native_spans'

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

for _, section in ipairs(spec.sections) do
  local doc = pandoc.read(read_file(section.skeleton), CANONICAL, {}, {})
  doc = doc:walk {
    Div = function(div)
      if not div.classes:includes('report') then return nil end
      local path = spec.reports[div.attributes.src]
      if not path then return {} end
      local report = pandoc.read(read_file(path), CANONICAL, {}, {})
      return report.blocks:walk {
        Image = function(img)
          img.src = img.src:gsub('^%.%./media/', '../normalised/media/')
          return img
        end,
      }
    end,
  }
  write_file(section.out, pandoc.write(doc, CANONICAL, { wrap_text = 'wrap-none' }))
end
