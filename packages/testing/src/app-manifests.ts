/**
 * The application the application manager's tests deploy across hosts labelled `zone=east` and
 * `zone=west`: a component spread 2:1 over the zones, a key-value provider on every host, a link
 * between them and the link's config.
 */
export function shopManifest(componentImage: string): string {
  return `apiVersion: core.oam.dev/v1beta1
kind: Application
metadata:
  name: shop
  annotations:
    version: v1
spec:
  components:
    - name: api
      type: component
      properties:
        image: ${componentImage}
      traits:
        - type: spreadscaler
          properties:
            instances: 3
            spread:
              - name: east
                requirements: { zone: east }
                weight: 2
              - name: west
                requirements: { zone: west }
                weight: 1
        - type: link
          properties:
            target: { name: kv, config: [{ name: bucket, properties: { bucket: shop } }] }
            namespace: wasi
            package: keyvalue
            interfaces: [store]
    - name: kv
      type: capability
      properties:
        image: wasmcloud+builtin://keyvalue
      traits:
        - type: daemonscaler
          properties: { instances: 1 }
`;
}
