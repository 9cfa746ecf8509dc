package mount

// YAMLBomb lets the socket tests send the anchor bomb of the unit tests.
var YAMLBomb = yamlBomb
