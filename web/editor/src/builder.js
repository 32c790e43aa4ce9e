// Parameter builder: filled in below (a form per parameter over the JSON textarea).
export function mountBuilder(textarea, onChange) {}
