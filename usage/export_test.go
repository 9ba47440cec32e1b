package usage

// SetMaxResponseBytes sets the bound of c's 2xx bodies, for tests.
func SetMaxResponseBytes(c *Client, n int64) { c.maxBody = n }
