package localcluster

// PIDs returns the name of every component process started, by process id.
func PIDs(c *Cluster) map[int]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	pids := map[int]string{}
	for _, p := range c.procs {
		pids[p.cmd.Process.Pid] = p.name
	}
	return pids
}
