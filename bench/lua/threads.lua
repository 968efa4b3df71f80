-- Numbers wrk's threads (thread_no, from 0) so that each one sends different values.
-- all_threads keeps them for done() (report.lua sums status.lua's counters over them).
local threads = 0
all_threads = {}

function setup(thread)
  thread:set("thread_no", threads)
  threads = threads + 1
  all_threads[threads] = thread
end
