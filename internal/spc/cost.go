package spc

// What parsing makes, per unit of its input, as TestParseCostsCoverAllocations
// measures it (yaml.v3, text/template and the jmesPath parser allocate far
// more than their input).
const (
	// yamlBaseBytes, yamlBytesPerByte and yamlBytesPerMark bound the tree
	// yaml.v3 builds: every node starts at a mark (a separator, an
	// indicator or a line break), and a flow map entry without a value makes
	// two nodes of one mark.
	yamlBaseBytes    = 32 << 10
	yamlBytesPerByte = 16
	yamlBytesPerMark = 480
	// argsNodeBytes is one secretArgs node decoded into Go values.
	argsNodeBytes = 256
	// parseBytesPerByte is what a parsed template or jmesPath holds and
	// leaves behind per byte of its source.
	parseBytesPerByte = 96
	// planEntryBytes is the fixed part of one request or output of a plan.
	planEntryBytes = 512
)

// yamlTreeBytes bounds what yaml.v3 allocates parsing src into nodes.
func yamlTreeBytes(src string) int {
	marks := 0
	for i := 0; i < len(src); i++ {
		switch src[i] {
		case ',', '[', '{', ':', '-', '\n', '?', '*', '&', '!', '|', '>':
			marks++
		}
	}
	return yamlBaseBytes + yamlBytesPerByte*len(src) + yamlBytesPerMark*marks
}
