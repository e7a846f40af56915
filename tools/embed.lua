-- embed.lua NAME FILE: write a C file defining 'const char NAME[]' (the
-- bytes of FILE) and 'const size_t NAME_len', so the corun executable
-- carries its Lua parts and needs no LUA_PATH.
local name, path = arg[1], arg[2]
local f = assert(io.open(path, "rb"))
local data = f:read("a")
f:close()
local out = { ("/* generated from %s by tools/embed.lua */\n"):format(path),
              "#include <stddef.h>\n",
              ("const char %s[] = {\n"):format(name) }
for i = 1, #data, 16 do
  local row = {}
  for j = i, math.min(i + 15, #data) do row[#row + 1] = data:byte(j) end
  out[#out + 1] = "  " .. table.concat(row, ", ") .. ",\n"
end
out[#out + 1] = "  0\n};\n"
out[#out + 1] = ("const size_t %s_len = %d;\n"):format(name, #data)
io.write(table.concat(out))
