package azure

import (
	"fmt"
	"strings"
)

// versionID names a gallery image version by its ARM resource id,
// /subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{g}/images/{i}/versions/{v}.
type versionID struct {
	subscription, resourceGroup, gallery, image, version string
}

func (id versionID) String() string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/galleries/%s/images/%s/versions/%s",
		id.subscription, id.resourceGroup, id.gallery, id.image, id.version)
}

// parseVersionID parses an image version's resource id; ARM compares the
// fixed segments without regard to case.
func parseVersionID(s string) (versionID, error) {
	p := strings.Split(strings.TrimPrefix(s, "/"), "/")
	want := []string{"subscriptions", "", "resourcegroups", "", "providers", "microsoft.compute", "galleries", "", "images", "", "versions", ""}
	if len(p) != len(want) {
		return versionID{}, fmt.Errorf("%w: %q is not a gallery image version id", ErrLocation, s)
	}
	for i, w := range want {
		if w != "" && !strings.EqualFold(p[i], w) || w == "" && p[i] == "" {
			return versionID{}, fmt.Errorf("%w: %q is not a gallery image version id", ErrLocation, s)
		}
	}
	return versionID{subscription: p[1], resourceGroup: p[3], gallery: p[7], image: p[9], version: p[11]}, nil
}
