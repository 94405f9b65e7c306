package config

// Args re-serialises o to a canonical argument list (no program name) that
// Parse turns back into an equal Options: every resolved value is written
// explicitly, as --flag=value, then "--" and the positional arguments. The
// daemon re-executes itself with it.
func (o *Options) Args() []string {
	var out []string
	for _, f := range flagTable {
		for _, v := range f.emit(o) {
			if f.value == "" {
				out = append(out, "--"+f.name)
			} else {
				out = append(out, "--"+f.name+"="+v)
			}
		}
	}
	if o.Bucket != "" || o.MountPoint != "" {
		out = append(out, "--", o.Bucket, o.MountPoint)
	}
	return out
}
