-- toppass for Neovim >= 0.11: LLM-sampled, ranker-ordered candidates for the Python function
-- under the cursor, as code actions from the toppass-ls language server.
--
--   vim.opt.rtp:append("/path/to/toppass/editors/nvim")
--   require("toppass").setup({ settings = { provider = "openai", openai = { model = "gpt-4o" } } })
--
-- Then, in a Python function: <leader>ta lists the toppass actions (the first time, "generate
-- ranked candidates", which samples, ranks and lets you pick one), or :Toppass generates for
-- the cursor line directly.
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
  -- Server settings, merged over every default in lua/toppass/settings.lua.
  settings = {},
}

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

--- The settings tree sent to the server: every default, overridden by `overrides`.
---@param overrides? table
---@return table
function M.server_settings(overrides)
  return vim.tbl_deep_extend("force", require("toppass.settings"), overrides or {})
end

--- Register and enable the toppass-ls client (vim.lsp.config + vim.lsp.enable), the keymap
--- and :Toppass.
---@param opts? {cmd?: string[], filetypes?: string[], root_markers?: string[],
---  keymap?: string|false, settings?: table}
function M.setup(opts)
  opts = opts or {}
  local settings = { toppass = M.server_settings(opts.settings) }
  vim.lsp.config(M.name, {
    cmd = opts.cmd or defaults.cmd,
    filetypes = opts.filetypes or defaults.filetypes,
    root_markers = opts.root_markers or defaults.root_markers,
    settings = settings,
    init_options = settings,
  })
  vim.lsp.enable(M.name)

  local keymap = opts.keymap
  if keymap == nil then
    keymap = defaults.keymap
  end
  vim.api.nvim_create_autocmd("LspAttach", {
    group = vim.api.nvim_create_augroup("toppass", { clear = true }),
    callback = function(args)
      local client = vim.lsp.get_client_by_id(args.data.client_id)
      if keymap and client and client.name == M.name then
        vim.keymap.set("n", keymap, M.code_action, {
          buffer = args.buf,
          desc = "toppass: ranked candidates for this function",
        })
      end
    end,
  })
  vim.api.nvim_create_user_command("Toppass", function()
    M.generate()
  end, { desc = "toppass: sample, rank and pick a body for the function at the cursor" })
end

return M
