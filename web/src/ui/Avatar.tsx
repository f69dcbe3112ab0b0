import { hueOf, initialsOf } from "./format";

export function Avatar({ id, size = 40 }: { id: string; size?: number }) {
  return (
    <span class="avatar" aria-hidden="true" style={{ "--hue": hueOf(id), width: `${size}px`, height: `${size}px` }}>
      {initialsOf(id)}
    </span>
  );
}
