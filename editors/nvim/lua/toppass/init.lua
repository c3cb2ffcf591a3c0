-- toppass for Neovim >= 0.11: LLM-sampled, ranker-ordered candidates for the Python function
-- under the cursor, as code actions from the toppass-ls language server.
--
--   vim.opt.rtp:append("/path/to/toppass/editors/nvim")
--   require("toppass").setup({ settings = { provider = "openai", openai = { model = "gpt-4o" } } })
--
-- Then, in a Python function: <leader>ta lists the toppass actions (the first time, "generate
-- ranked candidates", which samples, ranks and lets you pick one), or :Toppass generates for
-- the cursor line directly. While it samples, the progress shows on the command line (and in
-- require("toppass").status() for a statusline); <leader>tc or :ToppassCancel stops it.
-- :checkhealth toppass checks the set-up. editors/nvim/README.md has the rest.
local progress = require("toppass.progress")

local M = {}

--- Client name, also the name under vim.lsp.config.
M.name = "toppass"

--- The server command executed by :Toppass (workspace/executeCommand).
M.generate_command = "toppass.generate"

local defaults = {
  -- How to start the server: the toppass-ls on PATH, or
  -- { "/path/to/toppass/.venv/bin/toppass-ls", "--stdio" }.
  cmd = { "toppass-ls", "--stdio" },
  filetypes = { "python" },
  root_markers = { "pyproject.toml", "setup.py", "setup.cfg", ".git" },
  -- Normal-mode key for the toppass code actions; false for none.
  keymap = "<leader>ta",
  -- Normal-mode key for :ToppassCancel (stop a running generation); false for none.
  cancel_keymap = "<leader>tc",
  -- Show the server's progress on the command line while it samples and ranks; false when
  -- another plugin (fidget.nvim, mini.notify, ...) already shows LSP progress.
  progress = true,
  -- Server settings, merged over every default in lua/toppass/settings.lua.
  settings = {},
}

--- The options setup() was called with, defaults filled in (for :checkhealth toppass).
---@type table?
M.options = nil

--- Only toppass's code actions: "toppass: generate ranked candidates for `f()`" and the cached
--- "toppass #1 (0.93): ..." results.
---@param action lsp.CodeAction|lsp.Command
---@return boolean
function M.is_toppass_action(action)
  return type(action.title) == "string" and action.title:find("^toppass[ :#]") ~= nil
end

--- Open the toppass code actions for the cursor. With only one (the first request for a
--- function: "generate"), it runs at once; the server then offers the ranked candidates.
function M.code_action()
  vim.lsp.buf.code_action({ filter = M.is_toppass_action, apply = true })
end

--- Sample, rank and offer candidates for the function at the cursor line, without the
--- code-action menu.
---@param bufnr? integer
function M.generate(bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local client = vim.lsp.get_clients({ bufnr = bufnr, name = M.name })[1]
  if not client then
    vim.notify("toppass: toppass-ls is not attached to this buffer", vim.log.levels.WARN)
    return
  end
  local line = vim.api.nvim_win_get_cursor(0)[1] - 1 -- the server counts lines from 0
  client:exec_cmd({
    title = "toppass: generate ranked candidates",
    command = M.generate_command,
    arguments = { { uri = vim.uri_from_bufnr(bufnr), line = line } },
  }, { bufnr = bufnr })
end

--- Stop every running generation, whichever way it started (:Toppass, the code action, an
--- inline completion): `window/workDoneProgress/cancel` for each cancellable progress the
--- server reports (stops sampling and ranking), and `$/cancelRequest` for each pending
--- toppass.generate request (also stops one that waits for your pick). The server then
--- applies nothing and closes its HTTP requests.
---@return integer cancelled how many progresses and requests were cancelled (0: none ran)
function M.cancel()
  local cancelled = 0
  for _, client in ipairs(vim.lsp.get_clients({ name = M.name })) do
    for _, running in ipairs(progress.active(client.id)) do
      if running.cancellable then
        client:notify("window/workDoneProgress/cancel", { token = running.token })
        cancelled = cancelled + 1
      end
    end
    for id, request in pairs(client.requests) do
      if request.type == "pending" and request.method == "workspace/executeCommand" then
        client:cancel_request(id)
        cancelled = cancelled + 1
      end
    end
  end
  if cancelled == 0 then
    vim.notify("toppass: nothing to cancel", vim.log.levels.INFO)
  end
  return cancelled
end

--- A statusline component: the running toppass progress ("toppass: f(): sampling 3/16
--- (17%)"), or "" when none runs. For example:
---   vim.o.statusline = "%f %= %{v:lua.require'toppass'.status()}"
---@return string
function M.status()
  local running = progress.all()
  local newest = running[#running]
  return newest and progress.text(newest) or ""
end

--- Lua tables that hold nothing (a group whose defaults are all nil, such as `local`) would go
--- to the server as JSON `[]`, which it cannot read as a group ("ignoring unknown setting
--- 'local'"): leave them out.
local function without_empty_tables(value)
  if type(value) ~= "table" or vim.islist(value) and #value > 0 then
    return value
  end
  local out = {}
  for key, item in pairs(value) do
    local kept = without_empty_tables(item)
    if not (type(kept) == "table" and next(kept) == nil) then
      out[key] = kept
    end
  end
  return out
end

--- The settings tree sent to the server: every default, overridden by `overrides`, without
--- empty groups.
---@param overrides? table
---@return table
function M.server_settings(overrides)
  local merged = vim.tbl_deep_extend("force", require("toppass.settings"), overrides or {})
  local settings = without_empty_tables(merged)
  return next(settings) == nil and vim.empty_dict() or settings
end

--- Register and enable the toppass-ls client (vim.lsp.config + vim.lsp.enable), the keymaps,
--- the progress display, :Toppass and :ToppassCancel.
---@param opts? {cmd?: string[], filetypes?: string[], root_markers?: string[],
---  keymap?: string|false, cancel_keymap?: string|false, progress?: boolean, settings?: table}
function M.setup(opts)
  opts = vim.tbl_extend("force", defaults, opts or {})
  M.options = opts
  local settings = { toppass = M.server_settings(opts.settings) }
  vim.lsp.config(M.name, {
    cmd = opts.cmd,
    filetypes = opts.filetypes,
    root_markers = opts.root_markers,
    settings = settings,
    init_options = settings,
  })
  vim.lsp.enable(M.name)

  local cancel_hint = opts.cancel_keymap or ":ToppassCancel"
  local group = vim.api.nvim_create_augroup("toppass", { clear = true })
  vim.api.nvim_create_autocmd("LspAttach", {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if not client or client.name ~= M.name then
        return
      end
      if opts.keymap then
        vim.keymap.set("n", opts.keymap, M.code_action, {
          buffer = args.buf,
          desc = "toppass: ranked candidates for this function",
        })
      end
      if opts.cancel_keymap then
        vim.keymap.set("n", opts.cancel_keymap, M.cancel, {
          buffer = args.buf,
          desc = "toppass: cancel the running generation",
        })
      end
    end,
  })
  vim.api.nvim_create_autocmd("LspProgress", {
    group = group,
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if client and client.name == M.name then
        progress.update(client.id, args.data.params, {
          show = opts.progress ~= false,
          cancel_hint = cancel_hint,
        })
      end
    end,
  })
  vim.api.nvim_create_user_command("Toppass", function()
    M.generate()
  end, { desc = "toppass: sample, rank and pick a body for the function at the cursor" })
  vim.api.nvim_create_user_command("ToppassCancel", function()
    M.cancel()
  end, { desc = "toppass: cancel the running generation (nothing is applied)" })
end

return M
