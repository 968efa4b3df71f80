-- Counts the answers by status in each wrk thread (409 apart: a full slot in the booking rush), for report.lua.
-- Needs threads.lua (all_threads).
answered_409 = 0
answered_other = 0

function response(status, headers, body)
  if status == 409 then
    answered_409 = answered_409 + 1
  elseif status >= 400 then
    answered_other = answered_other + 1
  end
end
