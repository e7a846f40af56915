-- busted.lua: run the specs with the Lua that runs this file (lua5.4),
-- against the build named by CORUN_BUILD (see .busted).
require "busted.runner" { standalone = false }
