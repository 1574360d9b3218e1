-- wrk script of the mixed read load: GETs cycling through a list of paths.
--   wrk -s bench/paths.lua http://127.0.0.1:PORT -- /path/one,/path/two,...
local paths = {}
local i = 0

function init(args)
  for path in string.gmatch(args[1], "[^,]+") do paths[#paths + 1] = path end
end

function request()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
