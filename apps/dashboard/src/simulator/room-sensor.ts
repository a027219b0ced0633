/** One reading of a simulated room: what `home/<room>/temperature` and `home/<room>/humidity` carry. */
export interface RoomReading {
  readonly celsius: number;
  readonly percent: number;
}

/**
 * A room's temperature and humidity as a gentle random walk, pulled back towards the room's own level so it never
 * drifts off. `random` is injectable so a walk can be replayed.
 */
export class RoomSensor {
  private celsius: number;
  private percent: number;

  constructor(
    readonly room: string,
    private readonly level: RoomReading,
    private readonly random: () => number = Math.random,
  ) {
    this.celsius = level.celsius;
    this.percent = level.percent;
  }

  /** The next reading: at most about ±0.15 °C and ±0.6 % humidity from the last one, rounded to one decimal. */
  next(): RoomReading {
    this.celsius = step(this.celsius, this.level.celsius, 0.15, this.random());
    this.percent = Math.min(100, Math.max(0, step(this.percent, this.level.percent, 0.6, this.random())));
    return { celsius: round(this.celsius), percent: round(this.percent) };
  }
}

function step(value: number, level: number, size: number, random: number): number {
  return value + (random * 2 - 1) * size + (level - value) * 0.05;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
